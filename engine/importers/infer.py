"""Facts a source leaves implicit, inferred in one place so every importer infers alike.

Only used where the source says nothing: a source's explicit mode or flags always win."""

from __future__ import annotations

import re

from ..catalog.model import Modality, Mode

# Name fragments → mode, checked in order (the first match wins). Sources that state a mode
# (LiteLLM) never reach this; genai-prices and OpenRouter-style lists of chat models do.
_NAME_MODES: tuple[tuple[re.Pattern[str], Mode], ...] = (
    (re.compile(r"rerank"), Mode.rerank),
    (re.compile(r"embed|bge-|e5-|gte-|voyage-(?!.*rerank)"), Mode.embedding),
    (re.compile(r"moderation|guard"), Mode.moderation),
    (re.compile(r"whisper|transcri|speech-to-text|\bstt\b|nova-\d"), Mode.audio_transcription),
    (re.compile(r"tts|text-to-speech|speech(?!-to)"), Mode.audio_speech),
    (re.compile(r"realtime|live-"), Mode.realtime),
    (
        re.compile(r"dall-e|gpt-image|imagen|flux|stable-diffusion|sdxl|image-gen"),
        Mode.image_generation,
    ),
    (re.compile(r"\bveo|sora|video-gen|kling|wan-\d.*-t2v"), Mode.video_generation),
    (re.compile(r"\bocr\b|-ocr"), Mode.ocr),
)

# The capability every model of a mode has, whatever else the source says.
MODE_CAPABILITIES: dict[Mode, tuple[str, ...]] = {
    Mode.chat: ("text.chat",),
    Mode.completion: ("text",),
    Mode.responses: ("text.chat",),
    Mode.embedding: ("embeddings.text",),
    Mode.image_generation: ("image.generation",),
    Mode.image_edit: ("image.edit",),
    Mode.video_generation: ("video.generation",),
    Mode.audio_transcription: ("audio.transcription",),
    Mode.audio_speech: ("audio.speech",),
    Mode.realtime: ("realtime.voice",),
    Mode.rerank: ("text",),
    Mode.moderation: ("text",),
    Mode.ocr: ("vision.pdf",),
}

# The modalities a mode implies when the source lists none.
MODE_MODALITIES: dict[Mode, tuple[tuple[Modality, ...], tuple[Modality, ...]]] = {
    Mode.embedding: ((Modality.text,), (Modality.embedding,)),
    Mode.image_generation: ((Modality.text,), (Modality.image,)),
    Mode.image_edit: ((Modality.text, Modality.image), (Modality.image,)),
    Mode.video_generation: ((Modality.text,), (Modality.video,)),
    Mode.audio_transcription: ((Modality.audio,), (Modality.text,)),
    Mode.audio_speech: ((Modality.text,), (Modality.audio,)),
    Mode.realtime: ((Modality.text, Modality.audio), (Modality.text, Modality.audio)),
    Mode.ocr: ((Modality.pdf, Modality.image), (Modality.text,)),
}

LONG_CONTEXT_TOKENS = 200_000


def mode_from_name(name: str) -> Mode:
    lowered = name.lower()
    for pattern, mode in _NAME_MODES:
        if pattern.search(lowered):
            return mode
    return Mode.chat


def default_modalities(mode: Mode) -> tuple[set[Modality], set[Modality]]:
    inputs, outputs = MODE_MODALITIES.get(mode, ((Modality.text,), (Modality.text,)))
    return set(inputs), set(outputs)


def baseline_capabilities(
    mode: Mode, inputs: set[Modality], outputs: set[Modality], context_window: int | None
) -> set[str]:
    """Capabilities that follow from mode, modalities and limits alone."""
    caps = set(MODE_CAPABILITIES[mode])
    chatty = mode in (Mode.chat, Mode.responses, Mode.completion, Mode.realtime)
    if chatty and Modality.image in inputs:
        caps.add("vision.single_image")
    if chatty and Modality.pdf in inputs:
        caps.add("vision.pdf")
    if chatty and Modality.audio in inputs:
        caps.add("audio.input")
    if chatty and Modality.audio in outputs:
        caps.add("audio.output")
    if chatty and Modality.video in inputs:
        caps.add("video.input")
    if mode == Mode.embedding and Modality.image in inputs:
        caps.add("embeddings.image")
    if context_window and context_window >= LONG_CONTEXT_TOKENS and chatty:
        caps.add("text.long_context")
    return caps
