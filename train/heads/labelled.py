"""Reading labelled examples: JSONL records with a text and a label, or a text file plus a labels file.

JSONL (``.jsonl``/``.json``, a folder or a glob): the text under ``--text-key`` and the label
under ``--label-key`` (dotted paths such as ``meta.topic`` work). Any other file is the plain
layout: one example per line, and the labels one per line in a file beside it, found as
``NAME.labels`` (``train.txt`` -> ``train.labels``) or by turning ``text`` into ``label`` in
the name (``train_texts.txt`` -> ``train_labels.txt``), or named with ``--labels``. Plain
labels that all read as integers (or all as numbers) become numbers.

Every line read is counted by the Stage; a broken or unusable one is rejected with its
file:line and reason. A file with no usable example at all stops with a StageError.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from prep.core.errors import StageError
from prep.core.records import get_path, read_records
from prep.core.stage import Stage

JSON_SUFFIXES = (".jsonl", ".json")


@dataclass
class Labelled:
    texts: list[str] = field(default_factory=list)
    labels: list = field(default_factory=list)
    records: list[dict] = field(default_factory=list)


def is_plain(spec: str | Path) -> bool:
    path = Path(spec)
    return path.is_file() and path.suffix.lower() not in JSON_SUFFIXES


def labels_file_for(text_path: Path) -> Path | None:
    """The labels file beside a plain text file, or None."""
    candidates = [text_path.with_suffix(".labels"), text_path.with_name(text_path.name + ".labels")]
    if "text" in text_path.name:
        candidates.append(text_path.with_name(text_path.name.replace("text", "label")))
    return next((c for c in candidates if c != text_path and c.is_file()), None)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise StageError(f"{path}: not UTF-8 (byte {exc.start})") from exc
    except OSError as exc:
        raise StageError(f"{path}: cannot read ({exc.strerror})") from exc


def _numbers(values: list[str]) -> list:
    """The labels as ints, or floats, when every non-blank one reads so; blanks stay "" (rejected)."""
    for cast in (int, float):
        try:
            return [cast(v) if v else v for v in values]
        except ValueError:
            continue
    return values


def _label_ok(value) -> bool:
    # JSON readers accept NaN and Infinity: neither is a class nor a value to regress on.
    return isinstance(value, (str, int, float)) and value != "" and not (isinstance(value, float)
                                                                         and not math.isfinite(value))


def read_plain(text_path: Path, labels_path: Path | None, stage: Stage, what: str) -> Labelled:
    labels_path = labels_path or labels_file_for(text_path)
    if labels_path is None:
        raise StageError(f"{what} {text_path}: no labels file beside it (looked for "
                         f"{text_path.with_suffix('.labels').name}); name one with --{what.lower()}-labels")
    texts, raw_labels = _lines(text_path), _lines(Path(labels_path))
    if len(texts) != len(raw_labels):
        raise StageError(f"{what}: {text_path} has {len(texts)} lines but {labels_path} has "
                         f"{len(raw_labels)}; they must pair line by line")
    out = Labelled()
    stripped = [v.strip() for v in raw_labels]
    labels = _numbers(stripped)
    for number, (text, label, raw) in enumerate(zip(texts, labels, stripped), 1):
        stage.read()
        record = {"id": number, "text": text, "label": label}
        if not text.strip():
            stage.drop({**record, "label": raw}, "empty text", where=f"{text_path}:{number}")
        elif not _label_ok(label):  # the label as written: a NaN has no place in a JSON rejects file
            stage.drop({**record, "label": raw}, "no label" if label == "" else "bad label",
                       where=f"{labels_path}:{number}")
        else:
            stage.keep(None)
            out.texts.append(text)
            out.labels.append(label)
            out.records.append(record)
    return out


def read_jsonl(spec, stage: Stage, text_key: str, label_key: str | None) -> tuple[Labelled, Counter]:
    """Records with a text (and a label unless ``label_key`` is None); the keys seen, counted."""
    out, keys = Labelled(), Counter()
    for item in read_records(spec):
        stage.read()
        if item.error is not None:
            stage.error(item.where, item.error, item.raw)
            continue
        record = item.record
        keys.update(record.keys())
        text, label = get_path(record, text_key), get_path(record, label_key) if label_key else None
        if not isinstance(text, str) or not text.strip():
            stage.drop(record, "no text" if text is None else "empty text", where=item.where)
        elif label_key is not None and label is None:
            stage.drop(record, "no label", f"no {label_key!r} key", where=item.where)
        elif label_key is not None and not _label_ok(label):
            why = f"{label!r}, not a finite number" if isinstance(label, float) else \
                f"{type(label).__name__}, not a string or number"
            stage.drop(record, "bad label", why, where=item.where)
        else:
            stage.keep(None)
            out.texts.append(text)
            out.labels.append(label)
            out.records.append(record)
    return out, keys


def read_labelled(spec, stage: Stage, what: str = "TRAIN", text_key: str = "text", label_key: str = "label",
                  labels_file: str | Path | None = None) -> Labelled:
    """The usable examples of ``spec``; StageError when there are none, naming why."""
    before = stage.read_count
    if is_plain(spec):
        out = read_plain(Path(spec), Path(labels_file) if labels_file else None, stage, what)
        keys: Counter = Counter({"text": 1, "label": 1})
    else:
        if labels_file:
            raise StageError(f"{what} {spec}: --{what.lower()}-labels is for a plain text file, not JSONL")
        out, keys = read_jsonl(spec, stage, text_key, label_key)
    read = stage.read_count - before
    if read == 0:
        raise StageError(f"{what} {spec}: empty (no records)")
    if not out.texts:
        missing = [k for k in (text_key, label_key) if k and k.split(".")[0] not in keys]
        if missing:
            raise StageError(f"{what} {spec}: no record has the key {missing[0]!r}; keys there: "
                             f"{', '.join(sorted(keys)) or 'none'} (choose with --text-key / --label-key)")
        raise StageError(f"{what} {spec}: none of its {read} records is usable (see the rejects file)")
    return out


def read_texts(spec, stage: Stage, text_key: str = "text") -> Labelled:
    """Texts to predict on: JSONL records (others keys kept), or a plain file of one text a line."""
    if is_plain(spec):
        out = Labelled()
        for number, text in enumerate(_lines(Path(spec)), 1):
            stage.read()
            record = {"id": number, "text": text}
            if not text.strip():
                stage.drop(record, "empty text", where=f"{spec}:{number}")
                continue
            stage.keep(None)
            out.texts.append(text)
            out.records.append(record)
        return out
    out, keys = read_jsonl(spec, stage, text_key, None)
    if not out.texts and stage.read_count and text_key.split(".")[0] not in keys:
        raise StageError(f"{spec}: no record has the key {text_key!r}; keys there: {', '.join(sorted(keys))}")
    return out
