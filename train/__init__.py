"""Fine-tuning: the runner (full, LoRA, QLoRA), curves, merge, memory estimates, closed-form heads.

``from train import train_model`` is resolved lazily so that the CLI starts without torch.
"""


def __getattr__(name):
    if name == "train_model":
        # torch, transformers, peft: imported here to keep them off the CLI's start-up path
        from train.classify.run import train_model
        return train_model
    raise AttributeError(f"module 'train' has no attribute {name!r}")
