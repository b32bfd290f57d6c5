"""Leave-domains-out generalisation with ViT-B/16 (paper tier): PACS and Office-Home.

Not in the TRAM paper: an out-of-distribution vision counterpart to its language tasks. Both hub copies are one
``train`` split with a string ``domain`` column (hub-schemas.md §2):

* ``dg-pacs``: ``flwrlabs/pacs``, domains ``art_painting``, ``cartoon``, ``photo``, ``sketch``, 7 classes.
* ``dg-office-home``: ``flwrlabs/office-home``, domains ``Art``, ``Clipart``, ``Product``, ``Real World``,
  65 classes.

``target_domains`` are held out entirely (each is one out-of-domain test set); the remaining source domains are
pooled and split, class-stratified with a fixed seed, into train / val (``val_fraction``) / test
(``test_fraction``). Selection uses only the source validation set (training-domain validation, as in
DomainBed's "IID" selection). Domain names are lower-cased with "-" for " " and "_" (``real-world``,
``art-painting``); the in-domain name joins the source domains with "+".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from tram_bench.tasks.params import check_choices, check_fraction, fail
from tram_bench.tasks.vision.hub_images import HubImageSource
from tram_bench.tasks.vision.hub_task import HubImageTask, HubParams, IndexedSplit, carve


def short_domain(name: str) -> str:
    return name.lower().replace(" ", "-").replace("_", "-")


@dataclass
class DGParams(HubParams):
    """``target_domains``: held-out domains (hub spelling), drawn from the dataset's ``DOMAINS`` and leaving at
    least one source domain; val/test fractions of the pooled source domains (their sum below 1).

    Raises ValueError (one line: the key, the allowed values, the value) for a value outside these.
    """

    DOMAINS: ClassVar[tuple[str, ...]] = ()
    target_domains: list[str] = field(default_factory=list)
    val_fraction: float = 0.1
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choices("target_domains", self.target_domains, self.DOMAINS)
        if len(set(self.target_domains)) >= len(self.DOMAINS):
            fail("target_domains", self.target_domains, "a list that leaves at least one source domain")
        check_fraction("val_fraction", self.val_fraction)
        check_fraction("test_fraction", self.test_fraction)
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(f"val_fraction + test_fraction must be less than 1 (training needs the rest), got "
                             f"{self.val_fraction!r} + {self.test_fraction!r}")


@dataclass
class PACSParams(DGParams):
    DOMAINS: ClassVar[tuple[str, ...]] = ("art_painting", "cartoon", "photo", "sketch")
    dataset_path: str = "flwrlabs/pacs"
    target_domains: list[str] = field(default_factory=lambda: ["sketch"])


@dataclass
class OfficeHomeParams(DGParams):
    DOMAINS: ClassVar[tuple[str, ...]] = ("Art", "Clipart", "Product", "Real World")
    dataset_path: str = "flwrlabs/office-home"
    target_domains: list[str] = field(default_factory=lambda: ["Real World"])


class DomainGeneralizationTask(HubImageTask):
    domains: ClassVar[tuple[str, ...]]
    # Rows per domain of the default hub copy (hub-schemas.md §2); training uses part of the source domains.
    domain_rows: ClassVar[dict[str, int]]

    @classmethod
    def documented_train_rows(cls, params) -> int:
        return sum(n for d, n in cls.domain_rows.items() if d not in params.target_domains)

    def source(self) -> HubImageSource:
        p = self.params
        return HubImageSource(
            path=p.dataset_path, image_column="image", label_column="label", revision=p.revision, domain_column="domain"
        )

    def build_splits(self) -> tuple[IndexedSplit, list[IndexedSplit]]:
        p = self.params
        targets = list(p.target_domains)  # checked by the Params class
        sources = [d for d in self.domains if d not in targets]
        data = self.decoded("train")
        domain_of = np.asarray(data.domains, dtype=object)
        found = set(domain_of.tolist())
        unknown = sorted(found - set(self.domains))
        if unknown:
            raise ValueError(f"task {self.id}: dataset {p.dataset_path!r} has unexpected domain {unknown[0]!r}")
        source_rows = np.nonzero(np.isin(domain_of, sources))[0]
        fractions = {"train": 1.0 - p.val_fraction - p.test_fraction, "val": p.val_fraction, "test": p.test_fraction}
        parts = carve(data.labels, source_rows, fractions, 10)
        source_name = "+".join(short_domain(d) for d in sources)
        evals = [
            IndexedSplit(source_name, "val", True, data, parts["val"]),
            IndexedSplit(source_name, "test", True, data, parts["test"]),
        ]
        for salt, target in enumerate(targets, start=11):
            rows = np.nonzero(domain_of == target)[0]
            # Stratified order so an eval_size prefix stays class-balanced; the set is the whole domain.
            ordered = carve(data.labels, rows, {"all": 1.0}, salt)["all"]
            evals.append(IndexedSplit(short_domain(target), "test", False, data, ordered))
        return IndexedSplit(source_name, "train", True, data, parts["train"]), evals


class PACSTask(DomainGeneralizationTask):
    id = "dg-pacs"
    Params = PACSParams
    domains = PACSParams.DOMAINS
    domain_rows = {"art_painting": 2_048, "cartoon": 2_344, "photo": 1_670, "sketch": 3_929}  # 9,991 rows
    description = "PACS leave-domains-out with ViT-B/16: train on the source domains, test each held-out domain."


class OfficeHomeTask(DomainGeneralizationTask):
    id = "dg-office-home"
    Params = OfficeHomeParams
    domains = OfficeHomeParams.DOMAINS
    domain_rows = {"Art": 2_427, "Clipart": 4_365, "Product": 4_439, "Real World": 4_357}  # 15,588 rows
    description = "Office-Home leave-domains-out with ViT-B/16: train on the source domains, test each held-out one."
