"""The baselines compare measures the closed-form head against: trained by gradient descent.

- ``train_linear_head``: one nn.Linear on the same frozen embeddings, AdamW, cross-entropy
  (mean squared error for regression), minibatches shuffled by a seeded generator.
- ``finetune_encoder``: the whole encoder plus a classification head
  (AutoModelForSequenceClassification), AdamW, batches padded to their own longest text.
"""
from __future__ import annotations

from prep.core.errors import StageError


def _batches(n: int, batch_size: int, generator):
    # torch: imported here to keep it off the CLI's start-up path
    import torch
    order = torch.randperm(n, generator=generator)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def train_linear_head(x, targets, task: str, epochs: int, batch_size: int, learning_rate: float,
                      weight_decay: float = 0.01, seed: int = 0, device: str = "cpu"):
    """Train nn.Linear(d, k) and return a function from embeddings to raw outputs (numpy).

    ``targets``: class indices (classification) or values (regression).
    """
    # torch: imported here to keep it off the CLI's start-up path
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.as_tensor(x, dtype=torch.float32, device=device)
    if task == "regression":
        y = torch.as_tensor(targets, dtype=torch.float32, device=device).reshape(-1, 1)
        outputs, loss_fn = 1, torch.nn.functional.mse_loss
    else:
        y = torch.as_tensor(targets, dtype=torch.long, device=device)
        outputs, loss_fn = int(y.max()) + 1, torch.nn.functional.cross_entropy
    model = torch.nn.Linear(inputs.shape[1], outputs).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    for _ in range(epochs):
        for batch in _batches(len(inputs), batch_size, generator):
            batch = batch.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(inputs[batch]), y[batch]).backward()
            optimizer.step()
    model.eval()

    def apply(new_x):
        with torch.inference_mode():
            return model(torch.as_tensor(new_x, dtype=torch.float32, device=device)).double().cpu().numpy()
    return apply


def _load_classifier(path: str, num_labels: int, device: str):
    # transformers: imported here to keep it off the CLI's start-up path
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels)
    except (OSError, ValueError) as exc:
        raise StageError(f"cannot load {path!r} as a sequence classifier: {exc}") from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:
        # Decoder classifiers find each row's last token through the pad id.
        model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, model.to(device)


def finetune_encoder(path: str, texts: list[str], targets: list[int], eval_texts: list[str], epochs: int,
                     batch_size: int, learning_rate: float, max_length: int = 256, seed: int = 0,
                     device: str = "cpu"):
    """Fine-tune every weight of the encoder with a fresh classification head.

    Returns the raw logits (numpy) for ``eval_texts``.
    """
    # torch: imported here to keep it off the CLI's start-up path
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    tokenizer, model = _load_classifier(path, max(targets) + 1, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    labels = torch.as_tensor(targets, dtype=torch.long)

    def encode(chunk):
        enc = tokenizer(chunk, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        return {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    model.train()
    for _ in range(epochs):
        for batch in _batches(len(texts), batch_size, generator):
            optimizer.zero_grad(set_to_none=True)
            out = model(**encode([texts[i] for i in batch]), labels=labels[batch].to(device))
            out.loss.backward()
            optimizer.step()
    model.eval()
    logits = []
    with torch.inference_mode():
        for start in range(0, len(eval_texts), batch_size):
            logits.append(model(**encode(eval_texts[start:start + batch_size])).logits.float().cpu())
    return torch.cat(logits).double().numpy()
