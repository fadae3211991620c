"""The --task seq-cls model and tokenizer: a transformers classifier, or our scratch encoder."""
import types

from transformers import AutoModelForSequenceClassification

from prep.core.errors import StageError
from train.classify.config import ClassifierConfig
from train.classify.data import ByteTokenizer
from train.classify.scratch_encoder import PRESETS, EncoderClassifier, preset
from train.lm.model import load_tokenizer as load
from train.lm.switches import model_class_for


def is_scratch(name: str) -> bool:
    return name == "scratch" or name in PRESETS


def load_tokenizer(cfg: ClassifierConfig):
    """The model's tokenizer (the runner's loader: right padding, EOS as pad where none), or bytes."""
    if cfg.tokenizer_name_or_path is None and is_scratch(cfg.model_name_or_path):
        return ByteTokenizer()
    return load(types.SimpleNamespace(model_name_or_path=cfg.model_name_or_path, add_special_tokens=None,
                                      tokenizer_name_or_path=cfg.tokenizer_name_or_path))


def model_class(cfg: ClassifierConfig):
    """The transformers class --model_name_or_path loads, or None for our encoder."""
    if is_scratch(cfg.model_name_or_path):
        return None
    return model_class_for(cfg.model_name_or_path, "AutoModelForSequenceClassification")


def build_model(cfg: ClassifierConfig, classes: list, tokenizer, attn: str):
    if is_scratch(cfg.model_name_or_path):
        config = preset(cfg.model_name_or_path, vocab_size=len(tokenizer), num_labels=len(classes),
                        pad_token_id=tokenizer.pad_token_id, attention=attn, norm=cfg.norm,
                        pooling=cfg.pooling, dropout=cfg.dropout)
        if cfg.max_length > config.max_len:
            raise StageError(f"--max_length {cfg.max_length}: {cfg.model_name_or_path} has {config.max_len} positions")
        return EncoderClassifier(config)
    labels = {i: str(c) for i, c in enumerate(classes)}
    model = AutoModelForSequenceClassification.from_pretrained(
        cfg.model_name_or_path, num_labels=len(classes), id2label=labels,
        label2id={v: k for k, v in labels.items()}, attn_implementation=attn)
    model.config.pad_token_id = tokenizer.pad_token_id  # decoders pool at the last non-pad token
    return model
