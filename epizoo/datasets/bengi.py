"""BENGI (Moore et al. 2020): enhancer-gene pairs from 3D contacts, eQTLs and CRISPR screens.

Variants ``all-natural`` (v3), ``all-fixed`` (v4), ``ra-natural`` (v1) and ``ra-fixed`` (v2) are
BENGI's own tables of ``cCRE accession, gene id, label, cv-group``. They carry no coordinates:
accessions are resolved with the hg19 cCRE registry and genes with GENCODE v19 TSSs, taking for
each pair the gene's TSS nearest the enhancer (BENGI measures a pair's distance to the gene's
nearest TSS). Variant ``transepi`` reads TransEPI's copies of the ten v3 tables, which carry
coordinates; their cv-groups are recomputed with BENGI's rule (``assign.groups.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from epizoo import catalog, coords
from epizoo.datasets.base import DatasetRequest, LoadedDataset, normalise_pair_table
from epizoo.errors import EmptyResultError, InputFileError, UnknownNameError
from epizoo.options import comma_list

VARIANTS = {
    "all-natural": "All-Pairs.Natural-Ratio (v3)",
    "all-fixed": "All-Pairs.Fixed-Ratio (v4)",
    "ra-natural": "Remove-Ambiguous-Pairs.Natural-Ratio (v1)",
    "ra-fixed": "Remove-Ambiguous-Pairs.Fixed-Ratio (v2)",
    "transepi": "TransEPI's coordinate-bearing copies of the v3 tables",
}
DEFAULT_VARIANT = "all-natural"
TRANSEPI_COLUMNS = ["label", "distance", "e_chr", "e_start", "e_end", "e_name", "p_chr", "p_start", "p_end", "p_name"]
ACCESSION_COLUMNS = ["ccre", "gene", "label", "cv_group"]


# ---- selecting tables ----------------------------------------------------------------------


def table_keys(request: DatasetRequest, cat: catalog.Catalog) -> list[str]:
    """Catalog keys ``<variant>/<cell>.<assay>`` chosen by variant, ``--cell-line`` and ``assays``."""
    variant = request.variant or DEFAULT_VARIANT
    if variant not in VARIANTS:
        raise UnknownNameError(f"unknown BENGI variant {variant!r} (known: {', '.join(VARIANTS)})")
    tables = {key.split("/", 1)[1]: key for key in cat.files if key.startswith(f"{variant}/")}
    cells = sorted({name.split(".")[0] for name in tables})
    assays = sorted({name.split(".", 1)[1] for name in tables})
    wanted_cells = check_names("cell line", request.cell_lines, cells, variant)
    wanted_assays = check_names("assay", comma_list(request.options.get("assays")), assays, variant)
    keys = [key for name, key in sorted(tables.items()) if name.split(".")[0] in wanted_cells and name.split(".", 1)[1] in wanted_assays]
    if not keys:
        pairs = ", ".join(sorted(tables))
        raise EmptyResultError(f"BENGI {variant} has no table for that cell line and assay; it has {pairs}")
    return keys


def check_names(what: str, asked, known: list[str], variant: str) -> set[str]:
    if not asked:
        return set(known)
    unknown = [a for a in asked if a not in known]
    if unknown:
        raise UnknownNameError(f"BENGI {variant} has no {what} {', '.join(map(repr, unknown))} (known: {', '.join(known)})")
    return set(asked)


def table_identity(key: str, cat: catalog.Catalog) -> tuple[str, str]:
    """(cell line, source) of a table: ``('HeLa', 'bengi/HeLa.HiC-Benchmark.v3')``."""
    name = Path(cat.file(key).path).name
    stem = name.removesuffix(".gz").removesuffix(".tsv").removesuffix(".txt")
    return key.split("/", 1)[1].split(".")[0], f"bengi/{stem}"


# ---- annotations ---------------------------------------------------------------------------


def read_registry(path: Path) -> pd.DataFrame:
    """A cCRE registry BED (chrom, start, end, ..., an ``EH..E...`` accession column, ...)."""
    try:
        raw = pd.read_csv(path, sep="\t", header=None, dtype=str, comment="#")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read as a cCRE BED file ({str(exc).splitlines()[0]})") from None
    accession = next((c for c in raw.columns[3:] if raw[c].str.match(r"^EH\d\dE\d+$").all()), None)
    if accession is None or raw.shape[1] < 4:
        raise InputFileError(f"{path}: no column of cCRE accessions (EH37E...) after chrom, start, end")
    try:
        starts, ends = raw[1].astype("int64"), raw[2].astype("int64")
    except ValueError:
        raise InputFileError(f"{path}: columns 2 and 3 must be integer BED start and end") from None
    return pd.DataFrame({"ccre": raw[accession], "enhancer_contig": raw[0], "enhancer_start": starts, "enhancer_end": ends}).drop_duplicates("ccre")


def read_tss(path: Path) -> pd.DataFrame:
    """GENCODE v19 TSSs: chrom, tss, tss, transcript, ., strand, gene; the TSS is 1-based."""
    raw = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 3, 5, 6], names=["chrom", "tss", "transcript", "strand", "gene"])
    start, end = coords.from_one_based_closed(raw["tss"].to_numpy(), raw["tss"].to_numpy())
    return pd.DataFrame(
        {
            "gene": raw["gene"],
            "promoter_contig": raw["chrom"],
            "promoter_start": start,
            "promoter_end": end,
            "promoter_name": raw["gene"] + "|" + raw["transcript"],
            "promoter_strand": raw["strand"],
        }
    )


def nearest_tss(pairs: pd.DataFrame, tss: pd.DataFrame) -> pd.DataFrame:
    """For each pair, its gene's TSS on the enhancer's contig nearest an enhancer edge (BENGI's distance)."""
    merged = pairs.reset_index(names="row").merge(tss, on="gene", how="inner")
    merged = merged[merged["promoter_contig"] == merged["enhancer_contig"]]
    position = merged["promoter_end"]  # the 1-based TSS, as BENGI compares it
    merged = merged.assign(
        edge_distance=np.minimum((merged["enhancer_start"] - position).abs(), (merged["enhancer_end"] - position).abs())
    )
    best = merged.sort_values(["row", "edge_distance"], kind="stable").drop_duplicates("row")
    return best.drop(columns=["edge_distance"]).set_index("row").sort_index()


# ---- readers -------------------------------------------------------------------------------


def read_accession_table(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, sep="\t", header=None, dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read as a BENGI table ({str(exc).splitlines()[0]})") from None
    if raw.shape[1] != 4:
        raise InputFileError(f"{path}: expected 4 tab-separated columns (cCRE, gene, label, cv-group), found {raw.shape[1]}")
    raw.columns = ACCESSION_COLUMNS
    raw = raw.apply(lambda column: column.str.strip())
    bad = ~raw["label"].isin(["0", "1"])
    if bad.any():
        line = int(bad.to_numpy().argmax()) + 1
        raise InputFileError(f"{path}, line {line}: label {raw['label'].iloc[line - 1]!r} must be 0 or 1")
    return raw.assign(label=raw["label"].astype("int8"))


def load_accession_tables(keys, cat, request) -> tuple[pd.DataFrame, dict[str, int]]:
    registry_path = request.options.get("ccre_registry")
    registry = read_registry(Path(registry_path) if registry_path else cat.fetch("ccre_registry"))
    tss = read_tss(cat.fetch("gencode_tss"))
    report = {"rows_read": 0, "dropped_unknown_ccre": 0, "dropped_unresolved_gene": 0}
    tables = []
    for key in keys:
        cell, source = table_identity(key, cat)
        raw = read_accession_table(cat.fetch(key))
        located = raw.merge(registry, on="ccre", how="inner")
        promoters = nearest_tss(located, tss)
        resolved = located.loc[promoters.index].join(promoters[[c for c in promoters if c.startswith("promoter_")]])
        report["rows_read"] += len(raw)
        report["dropped_unknown_ccre"] += len(raw) - len(located)
        report["dropped_unresolved_gene"] += len(located) - len(resolved)
        tables.append(resolved.rename(columns={"ccre": "enhancer_name"}).assign(cell_line=cell, source=source))
    return pd.concat(tables, ignore_index=True), report


def read_transepi_table(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, sep="\t", header=None, dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError) as exc:
        raise InputFileError(f"{path}: cannot read as a TransEPI table ({str(exc).splitlines()[0]})") from None
    if raw.shape[1] != len(TRANSEPI_COLUMNS):
        raise InputFileError(f"{path}: expected {len(TRANSEPI_COLUMNS)} columns ({', '.join(TRANSEPI_COLUMNS)}), found {raw.shape[1]}")
    raw.columns = TRANSEPI_COLUMNS
    promoter = raw["p_name"].str.split("|", expand=True)
    enhancer = raw["e_name"].str.split("|", expand=True)
    bad = promoter.reindex(columns=range(5)).isna().any(axis=1) | enhancer.reindex(columns=range(3)).isna().any(axis=1)
    bad |= ~raw["label"].isin(["0", "1"]) | ~raw["e_start"].str.isdigit() | ~raw["e_end"].str.isdigit()
    if bad.any():
        line = int(bad.to_numpy().argmax()) + 1
        raise InputFileError(f"{path}, line {line}: malformed row (expected {', '.join(TRANSEPI_COLUMNS)} with names 'chr:start-end|CELL|...')")
    regions = [coords.parse_region(text) for text in promoter[0]]
    return pd.DataFrame(
        {
            "enhancer_contig": raw["e_chr"],
            "enhancer_start": raw["e_start"].astype("int64"),
            "enhancer_end": raw["e_end"].astype("int64"),
            "enhancer_name": enhancer[2],
            "promoter_contig": [r[0] for r in regions],
            "promoter_start": [r[1] for r in regions],
            "promoter_end": [r[2] for r in regions],
            "promoter_name": promoter[2] + "|" + promoter[3],
            "promoter_strand": promoter[4],
            "label": raw["label"].astype("int8"),
        }
    )


def bengi_cv_groups(pairs: pd.DataFrame) -> pd.Series:
    """BENGI's ``assign.groups.py``: 12 chromosome groups from the positives' distinct enhancers.

    Chromosomes are sorted by how many distinct positive enhancers they hold (ties by name); group
    ``cv-i`` (i = 0..10) is the i-th smallest with the (i+2)-th largest, ``cv-11`` the largest.
    A pair takes its enhancer's group; '' where the rule does not apply (not 23 chromosomes with
    positives, or an enhancer on a chromosome without any).
    """
    positives = pairs[pairs["label"] == 1].drop_duplicates("enhancer_name")
    counts = positives.groupby("enhancer_contig").size()
    order = sorted(counts.index, key=lambda chrom: (counts[chrom], chrom))
    if len(order) != 23:
        return pd.Series("", index=pairs.index)
    group = {order[-1]: "cv-11"}
    for i in range(11):
        group[order[i]] = group[order[-2 - i]] = f"cv-{i}"
    return pairs["enhancer_contig"].map(group).fillna("")


def upstream_cv_groups(key: str, cat: catalog.Catalog, table: pd.DataFrame) -> pd.Series | None:
    """Groups from BENGI's own v3 table of the same name (by enhancer chromosome); None if unavailable."""
    try:
        upstream = read_accession_table(cat.fetch(key.replace("transepi/", "all-natural/", 1)))
    except (InputFileError, UnknownNameError):
        return None
    chrom_of = table.drop_duplicates("enhancer_name").set_index("enhancer_name")["enhancer_contig"]
    known = upstream.assign(chrom=upstream["ccre"].map(chrom_of)).dropna(subset=["chrom"])
    group_of = known.drop_duplicates("chrom").set_index("chrom")["cv_group"]
    return table["enhancer_contig"].map(group_of).fillna("")


def load_transepi_tables(keys, cat, rule_only: bool = False) -> tuple[pd.DataFrame, dict[str, int]]:
    """TransEPI tables; cv-groups from BENGI's table where it can be had, else by BENGI's rule."""
    tables, report = [], {"tables_cv_group_upstream": 0, "tables_cv_group_recomputed": 0}
    for key in keys:
        cell, source = table_identity(key, cat)
        table = read_transepi_table(cat.fetch(key))
        groups = None if rule_only else upstream_cv_groups(key, cat, table)
        report["tables_cv_group_upstream" if groups is not None else "tables_cv_group_recomputed"] += 1
        groups = bengi_cv_groups(table) if groups is None else groups
        tables.append(table.assign(cell_line=cell, source=source, cv_group=groups))
    pairs = pd.concat(tables, ignore_index=True)
    report.update(rows_read=len(pairs), without_cv_group=int((pairs["cv_group"] == "").sum()))
    return pairs, report


def load(request: DatasetRequest) -> LoadedDataset:
    cat = catalog.load_catalog("bengi")
    keys = table_keys(request, cat)
    variant = request.variant or DEFAULT_VARIANT
    if variant == "transepi":
        how = request.options.get("cv_groups", "auto")
        if how not in ("auto", "rule"):
            raise UnknownNameError(f"BENGI option cv_groups={how!r} must be 'auto' (upstream tables, else the rule) or 'rule'")
        table, report = load_transepi_tables(keys, cat, rule_only=how == "rule")
    else:
        table, report = load_accession_tables(keys, cat, request)
    pairs = normalise_pair_table(table, f"BENGI {variant} pairs")
    report["pairs"] = len(pairs)
    return LoadedDataset(pairs, "hg19", variant=variant, report=report)
