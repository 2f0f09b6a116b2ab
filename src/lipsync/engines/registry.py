"""Which sync engines exist, which can run here, and how ``auto`` chooses.

An engine is registered with the models it needs; ``auto`` takes the best-ranked engine whose
models are installed: Wav2Lip when its weights are there, else the built-in engine, which
needs none. Test engines (random weights) are never chosen by ``auto``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ModelNotInstalledError, OptionsError
from ..models.store import ModelStore
from ..options import SyncOptions
from .base import Engine

EngineFactory = Callable[[SyncOptions, ModelStore], Engine]


@dataclass(frozen=True)
class EngineSpec:
    name: str
    description: str
    models: tuple[str, ...]
    factory: EngineFactory
    rank: int  # higher is preferred by ``auto``
    for_tests: bool = False


def _wav2lip_factory(model_name: str) -> EngineFactory:
    def create(options: SyncOptions, store: ModelStore) -> Engine:
        from .wav2lip.engine import Wav2LipEngine

        return Wav2LipEngine(
            store.path(model_name),
            device=options.device,
            batch_size=options.batch_size,
            name=model_name,
        )

    return create


def _builtin_factory(options: SyncOptions, store: ModelStore) -> Engine:
    from .builtin.engine import BuiltinEngine

    return BuiltinEngine()


ENGINES: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec(
            "wav2lip_gan",
            "Wav2Lip trained with a visual-quality discriminator: sharper mouths (user-supplied weights).",
            ("wav2lip_gan",),
            _wav2lip_factory("wav2lip_gan"),
            rank=20,
        ),
        EngineSpec(
            "wav2lip",
            "Wav2Lip, the reference network: the most accurate sync (user-supplied weights).",
            ("wav2lip",),
            _wav2lip_factory("wav2lip"),
            rank=10,
        ),
        EngineSpec(
            "builtin",
            "The built-in engine: the person's own mouths chosen and warped to follow the "
            "speech (phones, loudness); needs no downloaded weights.",
            (),
            _builtin_factory,
            rank=5,
        ),
        EngineSpec(
            "wav2lip_unittest",
            "A tiny random-weight Wav2Lip for tests and demos of the pipeline: the mouth is noise.",
            ("wav2lip_unittest",),
            _wav2lip_factory("wav2lip_unittest"),
            rank=0,
            for_tests=True,
        ),
    )
}


def engine_status(store: ModelStore) -> list[tuple[EngineSpec, bool]]:
    """Every registered engine with whether its models are installed."""
    return [(spec, all(store.is_installed(m) for m in spec.models)) for spec in ENGINES.values()]


def choose_engine(name: str, store: ModelStore) -> EngineSpec:
    """Resolve ``name`` (or ``auto``) to an engine whose models are installed.

    Raises OptionsError for an unknown name and ModelNotInstalledError (with the install
    command) when the engine's weights are missing; nothing heavy is loaded here.
    """
    if name == "auto":
        ready = [spec for spec, ok in engine_status(store) if ok and not spec.for_tests]
        if not ready:
            raise ModelNotInstalledError(
                "no lip-sync engine is installed: install Wav2Lip weights with "
                "`lipsync models install wav2lip_gan --from PATH_OR_URL` (see `lipsync models list`)"
            )
        return max(ready, key=lambda spec: spec.rank)
    spec = ENGINES.get(name)
    if spec is None:
        known = ", ".join(["auto", *ENGINES])
        raise OptionsError(f"unknown engine {name!r}; choose one of: {known}")
    for model in spec.models:
        store.path(model)  # raises ModelNotInstalledError with the install hint
    return spec
