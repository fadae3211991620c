"""The layout's rules, read from the source: no import cycles, small folders, local imports only
where they keep a heavy package off the `tunesmith` command's start-up path (and say so)."""
from __future__ import annotations

import ast

import import_graph as ig

# Third-party packages that take tens to hundreds of milliseconds to import.
HEAVY = {"torch", "transformers", "numpy", "peft", "datasets", "pyarrow", "matplotlib", "safetensors",
         "accelerate", "jinja2", "trafilatura", "bs4", "lxml", "tqdm", "xxhash", "sklearn", "tokenizers",
         "bitsandbytes", "liger_kernel", "gguf", "sqlparse", "concurrent", "multiprocessing", "sqlite3"}
MAX_MODULES_PER_FOLDER = 12


def test_no_import_cycles():
    assert ig.cycles(ig.graph()) == []


def test_cycle_finder_finds_a_cycle():
    assert ig.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_folders_stay_small():
    folders: dict = {}
    for path in ig.modules().values():
        if path.name != "__init__.py":
            folders.setdefault(path.parent, []).append(path.name)
    crowded = {str(k.relative_to(ig.ROOT)): len(v) for k, v in folders.items() if len(v) > MAX_MODULES_PER_FOLDER}
    assert crowded == {}


def _heavy(module: str, known: dict, seen: set) -> bool:
    """A heavy package, or a project module that imports one (anywhere in it, transitively)."""
    if module.split(".")[0] in HEAVY:
        return True
    if module not in known or module in seen:
        return False
    seen.add(module)
    tree = ast.parse(known[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        if any(_heavy(name, known, seen) for name in names):
            return True
    return False


def start_up_modules(known: dict) -> set[str]:
    """What `tunesmith --help` imports: the command tables' modules and their top-level imports."""
    from prep import cli as prep_cli
    from train import cli as train_cli

    roots = ["train.cli", *prep_cli.EXTRACTORS.values(), *prep_cli.STAGES.values(), *train_cli.COMMANDS.values()]
    seen: set[str] = set()
    while roots:
        module = roots.pop()
        if module in seen or module not in known:
            continue
        seen.add(module)
        parts = module.split(".")
        roots += [".".join(parts[:i]) for i in range(1, len(parts))]
        roots += [name for name, _, local in ig.imports(known[module], known) if not local]
    return seen


def test_local_imports_keep_heavy_packages_off_the_start_up_path():
    known = ig.modules()
    on_path = start_up_modules(known)
    wrong = []
    for module, path in known.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        top = {id(node) for node in tree.body}
        guarded = {id(n) for node in ast.walk(tree) if isinstance(node, (ast.If, ast.Try)) for n in node.body}
        typing_only = {id(n) for node in tree.body if isinstance(node, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(node.test) for n in node.body}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in top | typing_only:
                continue
            name = node.names[0].name if isinstance(node, ast.Import) else node.module or ""
            names = [name] + ([f"{name}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else [])
            if id(node) in guarded and name.split(".")[0] not in ("prep", "train"):
                continue  # an optional package tried inside a guard: it may be missing
            if module not in on_path and module != "train":
                wrong.append(f"{path.name}:{node.lineno} imports {name} locally, but {module} is not on the "
                             "start-up path: import it at the top")
                continue
            if not any(_heavy(n, known, set()) for n in names):
                wrong.append(f"{path.name}:{node.lineno} imports {name} locally; it is light: import it at the top")
                continue
            above = lines[node.lineno - 2] if node.lineno > 1 else ""
            block_start = above.strip().startswith(("from ", "import "))
            if "#" not in lines[node.lineno - 1] and "#" not in above and not block_start:
                wrong.append(f"{path.name}:{node.lineno}: a local import of {name} without a comment saying why")
    assert wrong == []
