"""Tiny tokenizers and models built on the fly, so that no test needs a network or a hub.

Tokenizer flavours (what real models do, and what masking/EOS code must survive):
- ``bos_eos``: adds <s> at the start of every encoding, </s> is EOS, a separate <pad>
  (Llama-2 style).
- ``no_bos``: no BOS token is added; EOS <|endoftext|>, separate <pad> (GPT-2/Qwen style).
- ``pad_eq_eos``: pad is the EOS token itself (what many recipes set), BOS added.
"""
from __future__ import annotations

from pathlib import Path

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "a language model predicts the next token from the ones before it",
    "fine-tuning adapts a pretrained model to a narrow task with little data",
    "what is the capital of france? the capital of france is paris.",
    "write a short poem about the sea. the sea is wide and grey and cold.",
    "hello world, this is a tiny corpus for a tiny tokenizer in the tests.",
    "numbers 0 1 2 3 4 5 6 7 8 9 and punctuation , . ! ? : ; ' \" ( ) - are here",
    "Kérastase, naïve café: non-ASCII text survives the round trip.",
]

CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}{{ bos_token or '' }}{% endif %}"
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ bos_token or '' }}<|system|>{{ m['content'] }}\n"
    "{% elif m['role'] == 'user' %}<|user|>{{ m['content'] }}\n"
    "{% else %}<|assistant|>{% generation %}{{ m['content'] }}{{ eos_token }}{% endgeneration %}\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

FLAVOURS = ("bos_eos", "no_bos", "pad_eq_eos")


def make_tokenizer(directory: Path | str, flavour: str = "bos_eos", vocab_size: int = 300):
    """Train a byte-level BPE on CORPUS and save it as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if flavour not in FLAVOURS:
        raise ValueError(f"flavour must be one of {FLAVOURS}")
    eos = "<|endoftext|>" if flavour == "no_bos" else "</s>"
    specials = ["<pad>", "<s>", "</s>", "<|endoftext|>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer)
    if flavour != "no_bos":
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    kwargs = dict(tokenizer_object=tok, eos_token=eos, unk_token="<unk>",
                  pad_token=eos if flavour == "pad_eq_eos" else "<pad>")
    if flavour != "no_bos":
        kwargs["bos_token"] = "<s>"
    fast = PreTrainedTokenizerFast(**kwargs)
    fast.chat_template = CHAT_TEMPLATE
    directory = Path(directory)
    fast.save_pretrained(directory)
    return fast


def make_llama(directory: Path | str | None = None, tokenizer=None, vocab_size: int | None = None,
               hidden: int = 64, layers: int = 2, heads: int = 4, seed: int = 0):
    """A 2-layer Llama of hidden size 64 with random weights (about 100k parameters)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    vocab = vocab_size or (len(tokenizer) if tokenizer is not None else 300)
    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=512, tie_word_embeddings=False)
    if tokenizer is not None:
        config.bos_token_id = tokenizer.bos_token_id
        config.eos_token_id = tokenizer.eos_token_id
        config.pad_token_id = tokenizer.pad_token_id
    model = LlamaForCausalLM(config)
    if directory is not None:
        model.save_pretrained(directory)
        if tokenizer is not None:
            tokenizer.save_pretrained(directory)
    return model
