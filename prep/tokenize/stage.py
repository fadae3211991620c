"""tokenize records into an Arrow file of input_ids, labels and length, masked for training

Input/output records (every layout prep.core.shapes reads) are laid out by --prompt-format
(the chat template by default, else the Alpaca prompt) with the loss on the answer only
(unless --train-on-source). Each answer ends with one EOS, always trained, also where pad ==
eos; BOS only where the tokenizer adds one; a record whose own text holds the tokenizer's
special tokens inside it is rejected (--allow-special-tokens keeps it). Too long: the input
loses its start; where the output alone does not fit, the record is dropped. Text records:
one example each, ending with EOS when it fits and cut at --max-length without one when it
does not (it does not end there), or --pack: documents joined with EOS and cut into
--max-length blocks. Chat records: the chat template, trained on the assistant turns only,
one EOS per answer. Every truncation and drop is counted in OUT.stats.json.

The encoding runs on prep.core.engine (--workers N local processes, or --engine ray; --num-proc
is the older spelling of --workers): the workers encode batches of --batch-size records
(prep/tokenize/work.py), this process packs and writes the rows in input order, so the Arrow
file, the rejects and the stats are the same bytes for any engine and number of workers.
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from prep.core.engine import run_work, worker_count
from prep.core.environ import environ_kept
from prep.core.errors import StageError
from prep.core.flags import add_engine, add_input, add_output, add_quiet
from prep.core.records import input_files, read_records
from prep.core.stage import Stage, options_of
from prep.core.work import Work
from prep.tokenize.arrow_io import ArrowWriter, int32_bytes
from prep.tokenize.encode import TokenizeConfig, prompt_format
from prep.tokenize.formats import FORMATS
from prep.tokenize.masking import Packer, detect_specials
from prep.tokenize.preference import stage as preference
from prep.tokenize.work import EVENTS, as_ints, check_template, judge, payload, tokenizer_for


def add_arguments(parser) -> None:
    add_input(parser, help="input JSONL/JSON records ({text}, {input, output}, {prompt, generation}, "
              "{instruction, input, output}, {messages} or {conversations}): a file, folder or glob")
    add_output(parser, help="output Arrow IPC stream (OUT.stats.json and OUT.rejected.jsonl beside it)",
               shards=False)
    parser.add_argument("--tokenizer-path", "--tokenizer_path", "--tokenizer", dest="tokenizer_path",
                        required=True, help="folder or hub id of a fast tokenizer (usually the model's)")
    parser.add_argument("--max-length", "--max_length", dest="max_length", type=int, default=2048,
                        help="tokens per example at most, BOS and EOS included")
    parser.add_argument("--train-on-source", "--train_on_source", dest="train_on_source", action="store_true",
                        help="train on the input (and non-assistant chat turns) too, not only the output")
    parser.add_argument("--add-special-tokens", "--add_special_tokens", dest="add_special_tokens", default="",
                        help="comma-separated tokens to add as special tokens, e.g. '<|user|>,<|model|>' "
                        "(the model's embeddings must be resized to the new vocabulary size)")
    parser.add_argument("--task", choices=("sft", "preference"), default="sft",
                        help="sft: input_ids + labels examples; preference: prompt and response ids apart "
                        "(prompt/chosen/rejected, hh-rlhf, turn lists, KTO prompt/completion/label; see "
                        "prep/tokenize/preference/) for DPO, ORPO and KTO")
    parser.add_argument("--mode", choices=("auto", "text", "supervised", "chat"), default="auto",
                        help="auto: per record from its keys; or treat every record as this kind")
    parser.add_argument("--prompt-format", "--prompt_format", dest="prompt_format", choices=FORMATS,
                        default="auto", help="how a prompt/response pair is laid out: chat (the tokenizer's "
                        "chat template), alpaca (the Stanford Alpaca prompt), raw (prompt and response back "
                        "to back) or template (--template-file); auto: chat where the tokenizer has a "
                        "template, else alpaca")
    parser.add_argument("--system-prompt", "--system_prompt", dest="system_prompt", default="none",
                        metavar="TEXT|none|template-default",
                        help="chat: the system message of records that have none; none keeps a template's "
                        "own default system text out, template-default lets the template add it")
    parser.add_argument("--template-file", "--template_file", dest="template_file", type=Path, default=None,
                        help="a text file whose {prompt} (or {instruction} and {input}) is filled in; the "
                        "rendering is the prompt and the response follows it")
    parser.add_argument("--allow-special-tokens", "--allow_special_tokens", dest="allow_special_tokens",
                        action="store_true", help="keep records whose text holds the tokenizer's own special "
                        "tokens (EOS, BOS, chat markers), encoded as those tokens; by default such a record is "
                        "rejected, since an EOS inside an answer trains the model to stop there")
    parser.add_argument("--pack", action="store_true",
                        help="text records: join documents (each ending with EOS) and cut into "
                        "--max-length blocks instead of one truncated example per record")
    parser.add_argument("--source-max-len", "--source_max_len", dest="source_max_len", type=int, default=None,
                        help="cap BOS + input at this many tokens (keeping the end of the input)")
    parser.add_argument("--target-max-len", "--target_max_len", dest="target_max_len", type=int, default=None,
                        help="cap output + EOS at this many tokens (keeping the start of the output)")
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=1000,
                        help="records per tokenizer call and per batch handed to a worker")
    add_engine(parser)
    parser.add_argument("--num-proc", "--num_proc", dest="workers", type=_workers, default=None, metavar="N",
                        help="the older spelling of --workers")
    add_quiet(parser)


def _workers(text: str) -> int:
    """--num-proc as --workers reads it: 0 (every usable core) or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value}: give 0 (every usable core) or more")
    return value


def _metadata(args, config: TokenizeConfig, tokenizer, specials, fmt) -> dict:
    """Stored in the Arrow schema so that `prep inspect` and the trainer know the settings."""
    return {"tokenizer": str(args.tokenizer_path), "max_length": config.max_length, "mode": config.mode,
            **fmt.describe(),
            "packed": config.pack, "train_on_source": config.train_on_source,
            "bos_id": specials.bos_id, "eos_id": specials.eos_id, "pad_id": specials.pad_id,
            "prefix_ids": list(specials.prefix), "vocab_size": len(tokenizer),
            "added_special_tokens": list(config.add_special_tokens)}


def read_template(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StageError(f"--template-file {path}: cannot read it as UTF-8 text ({exc})") from exc


def describe_system(fmt) -> str:
    if fmt.system == "none":
        return "none" + (" (the template's own default kept out)" if fmt.strip_default else "")
    if fmt.system == "template-default":
        return "the template's default"
    return repr(fmt.system if len(fmt.system) <= 60 else fmt.system[:57] + "...")


def _counts(counters: Counter) -> dict:
    """Event counts for the stats file; drops are in the stage's own "dropped"."""
    keys = ("truncated_input", "truncated_output", "truncated_text", "truncated_chat")
    out = {key: counters.get(key, 0) for key in keys}
    out.update({k: v for k, v in sorted(counters.items()) if k not in out and not k.startswith("dropped:")})
    return out


class Rows:
    """The main process's side: kept payloads written as they come, documents packed, in order."""

    def __init__(self, writer: ArrowWriter, max_length: int, pack: bool):
        self.writer = writer
        self.packer = Packer(max_length) if pack else None
        self.events: Counter = Counter()

    def _block(self, block: list[int]) -> None:
        self.events["pack_blocks"] += 1
        raw = int32_bytes(block)
        self.writer.add_bytes(raw, raw)

    def write(self, line: str) -> None:
        kind, ids, labels = payload(line)
        if kind == "example":
            self.writer.add_bytes(ids, labels)
            return
        self.events["packed_documents"] += 1
        for block in self.packer.add(as_ints(ids)):
            self._block(block)

    def close(self) -> None:
        for block in self.packer.finish() if self.packer else ():
            self._block(block)
            self.events["pack_last_block_tokens"] = len(block)
        self.writer.close()


def _config(args) -> TokenizeConfig:
    return TokenizeConfig(
        max_length=args.max_length, train_on_source=args.train_on_source, mode=args.mode, pack=args.pack,
        source_max_len=args.source_max_len, target_max_len=args.target_max_len,
        add_special_tokens=tuple(t.strip() for t in args.add_special_tokens.split(",") if t.strip()),
        batch_size=args.batch_size, prompt_format=args.prompt_format,
        system_prompt=args.system_prompt, template=read_template(args.template_file),
        allow_special_tokens=args.allow_special_tokens)


def _extra(rows: Rows, worker_events: dict, config: TokenizeConfig, fmt, specials, tokenizer, path) -> dict:
    """The stage's own stats: what was written, the events of workers and packing, the settings."""
    counters = Counter(rows.events)
    counters.update(worker_events)
    return {**rows.writer.summary(), **_counts(counters), "pack_last_block_tokens":
            counters.get("pack_last_block_tokens", 0) if config.pack else None,
            **fmt.describe(),
            "tokenizer": {"path": str(path), "bos_id": specials.bos_id, "eos_id": specials.eos_id,
                          "pad_id": specials.pad_id, "adds_bos": bool(specials.prefix),
                          "vocab_size": len(tokenizer)}}


def run(args) -> int:
    config = _config(args)
    if args.task == "preference":
        return preference.run(args, config)
    # Loaded once in this process: the judge built here (run_work builds it before any worker
    # starts) takes the same one, and forked workers inherit it.
    tokenizer = tokenizer_for(args.tokenizer_path, config.add_special_tokens)
    fmt = prompt_format(tokenizer, config)
    specials = detect_specials(tokenizer)
    one_thread = args.engine == "ray" or worker_count(args) != 1
    work = Work(judge, {"path": str(args.tokenizer_path), "added": config.add_special_tokens, "config": config,
                        "one_thread": one_thread})
    # The judge built here keeps the tokenizer to one thread where several processes run.
    with environ_kept("TOKENIZERS_PARALLELISM"), \
            Stage("tokenize", {"output": Path(args.output)}, options_of(args), input_files(args.input),
                  args.quiet, binary_outputs=["output"]) as stage:
        rows = Rows(ArrowWriter(stage.handle(), _metadata(args, config, tokenizer, specials, fmt)),
                    config.max_length, config.pack)

        def write(line: str) -> None:
            check_template(stage.extra, tokenizer)
            rows.write(line)
        run_work(stage, read_records(args.input, args.max_record_bytes), work, args, size=config.batch_size,
                 write=write)
        check_template(stage.extra, tokenizer)
        rows.close()
        stage.extra = _extra(rows, stage.extra.pop(EVENTS, {}), config, fmt, specials, tokenizer,
                             args.tokenizer_path)
    if not args.quiet:
        extra = stage.extra
        print(f"tokenize: {stage.kept} of {stage.read_count} records -> {extra['examples']} examples, "
              f"{extra['tokens_total']} tokens ({extra['label_tokens']} trained) in {args.output}; "
              f"prompt format {fmt.name}, system prompt {describe_system(fmt)}")
    return 0
