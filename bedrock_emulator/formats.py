"""Model request formats: each record's `modelInput` is checked against its model family's InvokeModel request
(or the Converse request, for `modelInvocationType: Converse`), and a valid one gets a deterministic response in
that family's format, with token usage.

Families (bedrock-facts §2.3): Anthropic Claude's Messages API (`anthropic.claude*`), Amazon Nova's messages-v1
(`amazon.nova*`), and Converse for any supported model. An invalid record's error message names the field, the
way Bedrock's "Malformed input request" messages do.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Set
from dataclasses import dataclass
from typing import Any

CLAUDE_VERSION = "bedrock-2023-05-31"
_ROLES = ("user", "assistant")
_WORDS = [
    "batch",
    "inference",
    "keeps",
    "every",
    "record",
    "and",
    "its",
    "answer",
    "together",
    "so",
    "a",
    "tracker",
    "can",
    "join",
    "on",
    "the",
    "record",
    "id",
    "and",
    "retry",
    "only",
    "what",
    "failed",
    "while",
    "the",
    "rest",
    "of",
    "the",
    "job",
    "stands",
]


class InvalidModelInput(ValueError):
    """A record whose modelInput does not match the request format; the message names the field."""


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Family:
    """One request/response format: `check` raises InvalidModelInput, `respond` builds the modelOutput."""

    name: str
    check: Callable[[Any], None]
    respond: Callable[[str, Any, str, Usage, str], dict[str, Any]]
    max_tokens: Callable[[Any], int | None]


def family_for(model_id: str, invocation_type: str = "InvokeModel") -> Family | None:
    """The format a job's records follow, or None when the emulator has no format for the model."""
    base = model_id.rsplit("/", 1)[-1]
    if "anthropic.claude" in base:
        return CONVERSE if invocation_type == "Converse" else CLAUDE
    if "amazon.nova" in base:
        return CONVERSE if invocation_type == "Converse" else NOVA
    return None


def process(family: Family, model_id: str, model_input: Any) -> tuple[dict[str, Any], Usage]:
    """Check one record and answer it; InvalidModelInput when the input is not in the family's format."""
    family.check(model_input)
    canonical = json.dumps(model_input, sort_keys=True)
    digest = hashlib.sha256(f"{model_id}\n{canonical}".encode()).digest()
    input_tokens = max(1, math.ceil(len(prompt_text(model_input)) / 4))
    wanted = 8 + digest[0] % 56
    limit = family.max_tokens(model_input)
    output_tokens = min(wanted, limit) if limit else wanted
    words = [_WORDS[(digest[i % len(digest)] + i) % len(_WORDS)] for i in range(output_tokens)]
    text = " ".join(words).capitalize() + "."
    stop = "max_tokens" if limit is not None and wanted > limit else "end_turn"
    usage = Usage(input_tokens, output_tokens)
    return family.respond(model_id, model_input, text, usage, stop), usage


def prompt_text(model_input: Any) -> str:
    """The prompt's text (messages and system), one space between parts: what token counts and forced-error
    rules (`promptContains`) read."""
    return " ".join(_texts(model_input))


def _texts(value: Any) -> list[str]:
    """Every string in the input that is prompt text (message and system text), for the token count."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, dict):
        return [
            text for key in ("messages", "system", "content", "text") if key in value for text in _texts(value[key])
        ]
    return []


# --- shared checks -----------------------------------------------------------------------------------------------


def _fail(path: str, problem: str) -> InvalidModelInput:
    return InvalidModelInput(f"Malformed input request: {path}: {problem}, please reformat your input and try again.")


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "expected type: JSONObject, found: " + _json_type(value))
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Number"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "JSONArray"
    if value is None:
        return "Null"
    return "JSONObject"


def _no_extra_keys(value: dict[str, Any], allowed: Set[str], path: str) -> None:
    extra = sorted(set(value) - allowed)
    if extra:
        raise _fail(path, f"extraneous key [{extra[0]}] is not permitted")


def _required(value: dict[str, Any], key: str, path: str) -> Any:
    if key not in value or value[key] is None:
        raise _fail(path, f"required key [{key}] not found")
    return value[key]


def _integer(value: Any, path: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, "expected type: Integer, found: " + _json_type(value))
    if value < minimum:
        raise _fail(path, f"{value} is not greater or equal to {minimum}")
    return value


def _number(value: Any, path: str, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, "expected type: Number, found: " + _json_type(value))
    if not low <= value <= high:
        raise _fail(path, f"{value} is not within [{low}, {high}]")


def _string_list(value: Any, path: str) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _fail(path, "expected an array of strings")


def _non_empty_text(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise _fail(path, "expected type: String, found: " + _json_type(value))
    if not value.strip():
        raise _fail(path, "text content blocks must be non-empty")


def _messages(value: Any, check_content: Callable[[Any, str], None]) -> None:
    if not isinstance(value, list):
        raise _fail("messages", "expected type: JSONArray, found: " + _json_type(value))
    if not value:
        raise _fail("messages", "at least one message is required")
    for index, item in enumerate(value):
        path = f"messages.{index}"
        message = _object(item, path)
        role = _required(message, "role", path)
        if role not in _ROLES:
            raise _fail(f"{path}.role", f"{role!r} is not a valid enum value (user, assistant)")
        if index == 0 and role != "user":
            raise _fail(f"{path}.role", "the first message must use the user role")
        if index > 0 and role == value[index - 1].get("role"):
            raise _fail(f"{path}.role", "roles must alternate between user and assistant")
        check_content(_required(message, "content", path), f"{path}.content")


# --- Anthropic Claude (Messages API) ------------------------------------------------------------------------------

_CLAUDE_KEYS = {
    "anthropic_version",
    "anthropic_beta",
    "max_tokens",
    "messages",
    "system",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "thinking",
    "metadata",
}
_CLAUDE_BLOCK_TYPES = {"text", "image", "document", "tool_use", "tool_result"}


def _claude_content(content: Any, path: str) -> None:
    if isinstance(content, str):
        _non_empty_text(content, path)
        return
    if not isinstance(content, list) or not content:
        raise _fail(path, "expected a non-empty string or an array of content blocks")
    for index, item in enumerate(content):
        block_path = f"{path}.{index}"
        block = _object(item, block_path)
        kind = _required(block, "type", block_path)
        if kind not in _CLAUDE_BLOCK_TYPES:
            raise _fail(f"{block_path}.type", f"{kind!r} is not a valid content block type")
        if kind == "text":
            _non_empty_text(_required(block, "text", block_path), f"{block_path}.text")


def check_claude(model_input: Any) -> None:
    body = _object(model_input, "#")
    _no_extra_keys(body, _CLAUDE_KEYS, "#")
    version = _required(body, "anthropic_version", "#")
    if version != CLAUDE_VERSION:
        raise _fail("anthropic_version", f"{version!r} is not supported; use {CLAUDE_VERSION!r}")
    _integer(_required(body, "max_tokens", "#"), "max_tokens", 1)
    _messages(_required(body, "messages", "#"), _claude_content)
    if "system" in body and not isinstance(body["system"], str):
        _claude_content(body["system"], "system")
    if "temperature" in body:
        _number(body["temperature"], "temperature", 0.0, 1.0)
    if "top_p" in body:
        _number(body["top_p"], "top_p", 0.0, 1.0)
    if "top_k" in body:
        _integer(body["top_k"], "top_k", 0)
    if "stop_sequences" in body:
        _string_list(body["stop_sequences"], "stop_sequences")


def _claude_max_tokens(model_input: Any) -> int | None:
    return int(model_input["max_tokens"])


def respond_claude(model_id: str, model_input: Any, text: str, usage: Usage, stop: str) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps(model_input, sort_keys=True).encode()).hexdigest()
    return {
        "id": f"msg_bdrk_{digest[:24]}",
        "type": "message",
        "role": "assistant",
        "model": re.sub(r"^.*anthropic\.", "", model_id.rsplit("/", 1)[-1]).split(":", 1)[0],
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
    }


# --- Amazon Nova (messages-v1) ------------------------------------------------------------------------------------

_NOVA_KEYS = {"schemaVersion", "messages", "system", "inferenceConfig", "toolConfig"}
_NOVA_BLOCK_KEYS = {"text", "image", "video", "document", "toolUse", "toolResult", "reasoningContent"}


def _blocks(content: Any, path: str) -> None:
    """Nova and Converse content: an array of blocks, each with exactly one known kind."""
    if not isinstance(content, list) or not content:
        raise _fail(path, "expected a non-empty array of content blocks")
    for index, item in enumerate(content):
        block_path = f"{path}.{index}"
        block = _object(item, block_path)
        kinds = [key for key in block if key in _NOVA_BLOCK_KEYS]
        if len(kinds) != 1:
            raise _fail(block_path, f"a content block needs exactly one of [{', '.join(sorted(_NOVA_BLOCK_KEYS))}]")
        if kinds[0] == "text":
            _non_empty_text(block["text"], f"{block_path}.text")


def _system_blocks(value: Any) -> None:
    if not isinstance(value, list):
        raise _fail("system", "expected type: JSONArray, found: " + _json_type(value))
    for index, item in enumerate(value):
        block = _object(item, f"system.{index}")
        _non_empty_text(_required(block, "text", f"system.{index}"), f"system.{index}.text")


@dataclass(frozen=True)
class _InferenceConfig:
    """How a request in content blocks (Nova's, Converse's) names the members of its `inferenceConfig`."""

    keys: frozenset[str]
    max_tokens: str
    top_p: str
    top_k: str | None = None
    """None: the format has no top_k."""

    def check(self, value: Any) -> None:
        config = _object(value, "inferenceConfig")
        _no_extra_keys(config, self.keys, "inferenceConfig")
        if self.max_tokens in config:
            _integer(config[self.max_tokens], f"inferenceConfig.{self.max_tokens}", 1)
        if "temperature" in config:
            _number(config["temperature"], "inferenceConfig.temperature", 0.0, 1.0)
        if self.top_p in config:
            _number(config[self.top_p], f"inferenceConfig.{self.top_p}", 0.0, 1.0)
        if self.top_k is not None and self.top_k in config:
            _integer(config[self.top_k], f"inferenceConfig.{self.top_k}", 0)
        if "stopSequences" in config:
            _string_list(config["stopSequences"], "inferenceConfig.stopSequences")

    def max_tokens_of(self, model_input: Any) -> int | None:
        config = model_input.get("inferenceConfig") or {}
        value = config.get(self.max_tokens)
        return int(value) if value is not None else None


def _check_blocks_request(body: dict[str, Any], inference: _InferenceConfig) -> None:
    """What Nova's and Converse's requests share: messages of content blocks, system blocks, inferenceConfig."""
    _messages(_required(body, "messages", "#"), _blocks)
    if "system" in body:
        _system_blocks(body["system"])
    if "inferenceConfig" in body:
        inference.check(body["inferenceConfig"])


def _respond_in_blocks(text: str, usage: Usage, stop: str) -> dict[str, Any]:
    """Nova's response, which Converse's extends."""
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {
            "inputTokens": usage.input_tokens,
            "outputTokens": usage.output_tokens,
            "totalTokens": usage.input_tokens + usage.output_tokens,
        },
    }


_NOVA_INFERENCE = _InferenceConfig(
    keys=frozenset({"max_new_tokens", "temperature", "top_p", "top_k", "stopSequences", "reasoningConfig"}),
    max_tokens="max_new_tokens",
    top_p="top_p",
    top_k="top_k",
)


def check_nova(model_input: Any) -> None:
    body = _object(model_input, "#")
    _no_extra_keys(body, _NOVA_KEYS, "#")
    if "schemaVersion" in body and body["schemaVersion"] != "messages-v1":
        raise _fail("schemaVersion", f"{body['schemaVersion']!r} is not supported; use 'messages-v1'")
    _check_blocks_request(body, _NOVA_INFERENCE)


def respond_nova(model_id: str, model_input: Any, text: str, usage: Usage, stop: str) -> dict[str, Any]:
    return _respond_in_blocks(text, usage, stop)


# --- Converse ------------------------------------------------------------------------------------------------------

# A Converse record's modelInput: the members of a Converse request that say what to answer (bedrock-runtime's
# Converse takes these same members, so an on-demand Converse call is answered like a record).
CONVERSE_REQUEST_KEYS = {
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
}
_CONVERSE_INFERENCE = _InferenceConfig(
    keys=frozenset({"maxTokens", "temperature", "topP", "stopSequences"}), max_tokens="maxTokens", top_p="topP"
)


def check_converse(model_input: Any) -> None:
    body = _object(model_input, "#")
    _no_extra_keys(body, CONVERSE_REQUEST_KEYS, "#")
    _check_blocks_request(body, _CONVERSE_INFERENCE)


def respond_converse(model_id: str, model_input: Any, text: str, usage: Usage, stop: str) -> dict[str, Any]:
    return {**_respond_in_blocks(text, usage, stop), "metrics": {"latencyMs": 100 + usage.output_tokens * 10}}


CLAUDE = Family("anthropic-claude-messages", check_claude, respond_claude, _claude_max_tokens)
NOVA = Family("amazon-nova-messages-v1", check_nova, respond_nova, _NOVA_INFERENCE.max_tokens_of)
CONVERSE = Family("converse", check_converse, respond_converse, _CONVERSE_INFERENCE.max_tokens_of)
