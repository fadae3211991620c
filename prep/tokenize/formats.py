"""How a prompt/response pair is laid out for the model: ``--prompt-format`` and ``--system-prompt``.

- chat: the tokenizer's chat template, the prompt as the user turn and the response as the
  assistant turn (the default when the tokenizer has a template);
- alpaca: the Stanford Alpaca prompt as qlora.py writes it, with an ``### Input:`` section
  where the record has an input (the default without a template);
- raw: the prompt and the response back to back, nothing between them (choose it for data
  whose prompts already end with their own marker, e.g. the Pygmalion ``<|model|>``);
- template: ``--template-file FILE``, a text with ``{prompt}`` (or ``{instruction}`` and
  ``{input}``) whose rendering is the prompt; the response follows it.

The system prompt is a visible choice. ``none``: no system text; where the template would put
in a default of its own when no system message is given (SmolLM2 writes "You are a helpful AI
assistant named SmolLM..."), an empty system message keeps it out. ``template-default``: the
template's own behaviour, default included. Any other value is the system message itself.
Chat records keep their own system message.
"""
from __future__ import annotations

from dataclasses import dataclass

from prep.core.errors import StageError
from prep.core.shapes import alpaca_template
from prep.tokenize.chat import template_text

FORMATS = ("auto", "chat", "alpaca", "raw", "template")
SYSTEM_CHOICES = ("none", "template-default")
_PROBE = "\x01probe\x01"


def injected_system(tokenizer) -> str | None:
    """The text a chat template adds by itself when no system message is given, or None.

    Measured by rendering one user turn with no system message and with an empty one: a
    template that injects a default renders the first with more text before the user's words.
    """
    # jinja2: imported here to keep it off the CLI's start-up path
    from jinja2 import TemplateError

    def before_user(messages: list[dict]) -> str | None:
        try:
            rendered = tokenizer.apply_chat_template(messages, tokenize=False)
        except (TemplateError, ValueError, TypeError, KeyError, IndexError):
            return None  # a template that refuses a system turn has no default to keep out
        return rendered.split(_PROBE, 1)[0] if _PROBE in rendered else None

    user = {"role": "user", "content": _PROBE}
    bare, empty = before_user([user]), before_user([{"role": "system", "content": ""}, user])
    if bare is None or empty is None or len(bare) <= len(empty):
        return None
    return bare


@dataclass(frozen=True)
class PromptFormat:
    """A resolved format: ``name`` one of chat, alpaca, raw, template; ``system`` none,
    template-default or the system text; ``strip_default``: pass an empty system message."""
    name: str
    system: str = "none"
    template: str | None = None
    strip_default: bool = False

    def describe(self) -> dict:
        out = {"prompt_format": self.name, "system_prompt": self.system}
        if self.template is not None:
            out["template"] = self.template
        return out

    def system_messages(self, messages: list[dict]) -> list[dict]:
        if messages and messages[0]["role"] == "system":
            return []
        if self.system == "none":
            return [{"role": "system", "content": ""}] if self.strip_default else []
        if self.system == "template-default":
            return []
        return [{"role": "system", "content": self.system}]

    def supervised(self, prompt: str, response: str, parts: tuple[str, str]):
        """The job for one prompt/response pair: ("supervised", prompt, response) or ("chat", messages)."""
        if self.name == "chat":
            turns = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
            return "chat", self.system_messages(turns) + turns
        if self.name == "alpaca":
            return "supervised", alpaca_template(*parts), response
        if self.name == "template":
            return "supervised", self.template.format(prompt=prompt, instruction=parts[0], input=parts[1]), response
        return "supervised", prompt, response

    def chat(self, messages: list[dict]):
        return "chat", self.system_messages(messages) + messages


def resolve(tokenizer, name: str = "auto", system: str = "none", template: str | None = None) -> PromptFormat:
    """The format ``name`` means for this tokenizer; setup errors name the fix."""
    has_template = template_text(tokenizer) is not None
    if template is not None:
        if name not in ("auto", "template"):
            raise StageError(f"--template-file goes with --prompt-format template (or auto), not {name}")
        try:
            template.format(prompt="", instruction="", input="")
        except (KeyError, IndexError, ValueError) as exc:
            raise StageError(f"--template-file: only {{prompt}}, {{instruction}} and {{input}} may be "
                             f"filled in (write literal braces as {{{{ and }}}}): {exc!r}") from None
        name = "template"
    elif name == "template":
        raise StageError("--prompt-format template needs --template-file FILE")
    if name == "auto":
        name = "chat" if has_template else "alpaca"
    if name == "chat" and not has_template:
        raise StageError(f"--prompt-format chat: tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no "
                         "chat template; use --prompt-format alpaca, raw or --template-file")
    strip = system == "none" and has_template and injected_system(tokenizer) is not None
    return PromptFormat(name, system, template, strip)
