"""A tiny llama-architecture GGUF written the way llama.cpp's converter writes a real one: llama hyper-parameters
under ``llama.*``, a byte-level BPE tokenizer (``tokenizer.ggml.model = gpt2``, ``pre = llama-bpe``, the 256 byte
symbols, merges, two control tokens) in the metadata, and tensors under llama.cpp's names (``token_embd``,
``blk.N.attn_q`` ..., ``output``). Its weights are random: it loads and runs like a real model and says nothing
sensible, which is what a test of loading and schema enforcement needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"


def byte_spelling() -> dict[int, str]:
    """GPT-2's byte -> printable character table (every byte-level BPE vocabulary spells its tokens with it)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


def vocabulary(words: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(tokens, merges): the 256 byte symbols, then merges that make each character of ``words`` one token
    (so a CJK name can be written whole) and a few JSON pieces."""
    spell = byte_spelling()
    tokens = [spell[b] for b in range(256)]
    merges: list[str] = []

    def merge(left: str, right: str) -> None:
        if left + right not in tokens:
            merges.append(f"{left} {right}")
            tokens.append(left + right)

    for word in ('":', '",', '["', '"]', "{\"", "L1", "L2", "L3", "L4", *words):
        for ch in word:
            pieces = [spell[b] for b in ch.encode("utf-8")]
            while len(pieces) > 1:
                merge(pieces[0], pieces[1])
                pieces = [pieces[0] + pieces[1]] + pieces[2:]
        if len(word) == 2:
            merge("".join(spell[b] for b in word[0].encode()), "".join(spell[b] for b in word[1].encode()))
    return tokens, merges


def write_tiny_llama_gguf(path: str | Path, *, words: tuple[str, ...] = (), seed: int = 0, hidden: int = 64,
                          layers: int = 2, heads: int = 4, kv_heads: int = 2, ffn: int = 128,
                          context_length: int = 4096) -> Path:
    """Write the model to ``path`` (float32 tensors) and return the path."""
    import gguf

    rng = np.random.default_rng(seed)
    tokens, merges = vocabulary(words)
    tokens = tokens + [BOS, EOS]
    types = [1] * (len(tokens) - 2) + [3, 3]          # 1 normal, 3 control
    vocab = len(tokens)
    head_dim = hidden // heads
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("lantern-tiny-llama")
    writer.add_context_length(context_length)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("llama-bpe")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(vocab - 2)
    writer.add_eos_token_id(vocab - 1)
    writer.add_add_bos_token(True)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    writer.add_tensor("token_embd.weight", weight(vocab, hidden))
    for i in range(layers):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(hidden, np.float32))
        writer.add_tensor(f"blk.{i}.attn_q.weight", weight(hidden, hidden))
        writer.add_tensor(f"blk.{i}.attn_k.weight", weight(kv_heads * head_dim, hidden))
        writer.add_tensor(f"blk.{i}.attn_v.weight", weight(kv_heads * head_dim, hidden))
        writer.add_tensor(f"blk.{i}.attn_output.weight", weight(hidden, hidden))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(hidden, np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(ffn, hidden))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(ffn, hidden))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(hidden, ffn))
    writer.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    writer.add_tensor("output.weight", weight(vocab, hidden))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
