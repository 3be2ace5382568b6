"""The README's configuration table, generated from `core.settings.Settings` so it never drifts.

`python -m core.settings_doc` prints the table; `python -m core.settings_doc --write README.md` replaces
the part of the README between the `<!-- settings:begin -->` and `<!-- settings:end -->` markers.
A test fails when the README and the settings class disagree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import AliasChoices

from core.settings import Settings

BEGIN = "<!-- settings:begin -->"
END = "<!-- settings:end -->"


def _env_names(name: str) -> list[str]:
    field = Settings.model_fields[name]
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    prefix = Settings.model_config.get("env_prefix", "")
    return [f"{prefix}{name}".upper()]


def settings_table() -> str:
    """One Markdown row per setting: environment variable(s) and the field's own description."""
    rows = ["| variable | meaning |", "|---|---|"]
    for name, field in Settings.model_fields.items():
        names = ", ".join(f"`{env}`" for env in _env_names(name)[:1])
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {names} | {description} |")
    return "\n".join(rows)


def replace_section(text: str, table: str) -> str:
    """The README text with the generated table between the markers."""
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="rewrite the table inside this Markdown file")
    args = parser.parse_args(argv)
    table = settings_table()
    if args.write is None:
        print(table)
        return 0
    args.write.write_text(replace_section(args.write.read_text(), table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
