"""What the user typed as a model, checked before anything touches the network or the disk.

`parse_model_ref` accepts a Hub repo id (`org/name`, or a legacy bare `name`), optionally pinned to a
revision (`org/name@<branch|tag|commit>`), or a local directory written as a path (`/abs/dir`,
`./dir`, `../dir`, `~/dir`). A bare relative directory such as `models/foo` is read as a repo id: write
`./models/foo` to mean the directory. Anything else is an `InvalidRequest` that shows the accepted forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import InvalidRequest
from core.vocabulary import (
    COMMIT_SHA_RE,
    LOCAL_MODEL_PREFIXES,
    MAX_REPO_ID_LENGTH,
    MAX_REVISION_LENGTH,
    MODEL_FORMS,
    REPO_ID_RE,
    REVISION_RE,
)


@dataclass(frozen=True)
class ModelRef:
    """A checked model reference: either a Hub repo (with optional revision) or a local directory."""

    text: str  # as typed, trimmed
    repo_id: str | None = None
    revision: str | None = None
    local_path: Path | None = None

    @property
    def is_local(self) -> bool:
        return self.local_path is not None

    @property
    def pinned_to_commit(self) -> bool:
        """A full commit sha never changes, so what was fetched for it never goes stale."""
        return self.revision is not None and COMMIT_SHA_RE.fullmatch(self.revision) is not None


def _shown(text: str) -> str:
    return text if len(text) <= 100 else text[:97] + "..."


def parse_model_ref(model: str) -> ModelRef:
    """Check a model reference; raise InvalidRequest (before any request) when it cannot be one."""
    text = (model or "").strip()
    if not text:
        raise InvalidRequest(f"The model is empty; {MODEL_FORMS}.")
    if text.startswith(LOCAL_MODEL_PREFIXES):
        return ModelRef(text=text, local_path=Path(text).expanduser())
    repo_id, at, revision = text.partition("@")
    problem = _repo_id_problem(repo_id)
    if problem is None and at:
        problem = _revision_problem(revision)
    if problem is not None:
        raise InvalidRequest(
            f"`{_shown(text)}` is not a model the bot can look up: {problem}; {MODEL_FORMS}."
        )
    return ModelRef(text=text, repo_id=repo_id, revision=revision or None)


def check_model(model: str) -> str:
    """`model` trimmed, if it is a Hub repo id (optionally `@revision`) or a local path; else
    InvalidRequest with the accepted forms. The same rule the Hub loader applies before any request."""
    return parse_model_ref(model).text


def _repo_id_problem(repo_id: str) -> str | None:
    if len(repo_id) > MAX_REPO_ID_LENGTH:
        return f"a repo id has at most {MAX_REPO_ID_LENGTH} characters"
    if any(ch.isspace() for ch in repo_id):
        return "it contains spaces"
    if "--" in repo_id or ".." in repo_id:
        return "`--` and `..` are not allowed in repo ids"
    if repo_id.count("/") > 1:
        return "a repo id has one `/` (organisation/name)"
    if not REPO_ID_RE.fullmatch(repo_id):
        return "only letters, digits, `-`, `_` and `.` are allowed, and a name cannot start or end with `-` or `.`"
    return None


def _revision_problem(revision: str) -> str | None:
    if not revision:
        return "nothing follows `@` (give a branch, tag or commit)"
    if len(revision) > MAX_REVISION_LENGTH:
        return f"a revision has at most {MAX_REVISION_LENGTH} characters"
    if ".." in revision or "//" in revision or revision.endswith("/"):
        return "the revision is not a valid branch, tag or commit name"
    if not REVISION_RE.fullmatch(revision):
        return "a revision has only letters, digits, `-`, `_`, `.` and `/`"
    return None
