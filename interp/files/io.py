"""Files in and out: FASTA, alignments (A3M, PSICOV .aln, aligned FASTA), CASP RR contacts, .npz maps.

Readers raise a typed `InterpError` naming the file, record and line; writers write to a temporary file
and rename it, so an interrupted write never leaves a half-written output.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

import numpy as np
import torch

from interp.errors import AlignmentFormatError, ContactMapError, EmptySequenceError, FastaFormatError, RRFormatError
from interp.maps.contacts import Pair, top_pairs

PathLike = str | os.PathLike


class Record(NamedTuple):
    """One FASTA or alignment record.

    Attributes:
        name: the header line after '>' (stripped); for a PSICOV alignment, the row's 0-based index.
        sequence: the sequence, or the aligned row for an alignment.
    """

    name: str
    sequence: str


def _open_text(path: PathLike) -> IO[str]:
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _base_suffix(path: PathLike) -> str:
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    return suffixes[-1] if suffixes else ""


def current_umask() -> int:
    """The process's file-creation mask (read without changing it where Linux reports it)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside `path` and move it over `path` only when the block succeeds.

    Missing parent folders are created; if the block raises, the temporary file is removed and `path` is
    left as it was. The file gets the permissions a plain `open` would give it (0666 less the umask: shared
    result folders stay readable by the group), not the private 0600 of the temporary file.

    Args:
        path: the file to write.
        mode: the `open` mode of the temporary file: "w" (text, the default) or "wb" (binary).

    Yields:
        The open handle of the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes it private (0600); a written file gets the umask's
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _parse_fasta_lines(path: PathLike, error: type) -> list[Record]:
    records: list[Record] = []
    name: str | None = None
    chunks: list[str] = []
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(">"):
                if name is not None:
                    records.append(Record(name, "".join(chunks)))
                name, chunks = line[1:].strip(), []
            elif name is None:
                raise error(f"{path}: line {number}: sequence text before the first '>' header")
            else:
                chunks.append("".join(line.split()))
    if name is not None:
        records.append(Record(name, "".join(chunks)))
    return records


def read_fasta(path: PathLike, *, allow_empty: bool = False) -> list[Record]:
    """Read a (possibly gzipped) FASTA file as [(name, sequence)]; whitespace inside sequences is dropped.

    Blank lines and lines starting with '#' are skipped; letters are kept as written (no case change).

    Args:
        path: the FASTA file; a name ending in ".gz" is read as gzip.
        allow_empty: keep records with no sequence (batch tools report them one by one and go on)
            instead of refusing the file with EmptySequenceError.

    Returns:
        The records in file order, each a `Record` (name, sequence).

    Raises:
        FastaFormatError: if the file has sequence text before the first '>' header, or no record at all.
        EmptySequenceError: if a record has no sequence and `allow_empty` is False.
    """
    records = _parse_fasta_lines(path, FastaFormatError)
    if not records:
        raise FastaFormatError(f"{path}: no FASTA records found")
    for index, record in enumerate(records):
        if not record.sequence and not allow_empty:
            raise EmptySequenceError(f"{path}: record {index + 1} ({record.name!r}) has an empty sequence")
    return records


ALIGNMENT_FORMATS = ("a3m", "psicov", "fasta")
_SUFFIX_FORMAT = {".a3m": "a3m", ".aln": "psicov", ".psicov": "psicov"}


def _detect_format(path: PathLike) -> str:
    fmt = _SUFFIX_FORMAT.get(_base_suffix(path))
    if fmt is not None:
        return fmt
    with _open_text(path) as handle:
        for line in handle:
            if line.strip() and not line.startswith("#"):
                return "fasta" if line.startswith(">") else "psicov"
    raise AlignmentFormatError(f"{path}: the alignment file is empty")


def read_alignment(path: PathLike, fmt: str | None = None) -> list[Record]:
    """Read an alignment as [(name, aligned row)], the query first; every row has the query's length.

    Formats: "a3m" (lowercase insertions and '.' dropped), "psicov" (.aln, one row per line, rows named
    by their 0-based index; letters upper-cased, '.' read as a gap '-'), "fasta" (aligned FASTA; letters
    upper-cased, '.' read as a gap '-'). Blank lines and lines starting with '#' are skipped.

    Args:
        path: the alignment file; a name ending in ".gz" is read as gzip.
        fmt: "a3m", "psicov" or "fasta"; None detects it from the suffix (".a3m"; ".aln" or ".psicov"),
            else from the first line (a '>' header: "fasta", otherwise "psicov").

    Returns:
        The rows as `Record`s (name, aligned row), the query first, all of the query's length.

    Raises:
        AlignmentFormatError: if the format is unknown, the file is empty or has no rows, the query row is
            empty, a row's length differs from the query's, or (a3m, fasta) text comes before the first header.
    """
    fmt = fmt or _detect_format(path)
    if fmt not in ALIGNMENT_FORMATS:
        raise AlignmentFormatError(f"{path}: unknown alignment format {fmt!r}; known: {ALIGNMENT_FORMATS}")
    if fmt == "psicov":
        with _open_text(path) as handle:
            rows = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
        records = [Record(str(index), row.upper().replace(".", "-")) for index, row in enumerate(rows)]
    elif fmt == "a3m":
        raw = _parse_fasta_lines(path, AlignmentFormatError)
        records = [Record(r.name, "".join(c for c in r.sequence if not c.islower() and c != ".")) for r in raw]
    else:
        raw = _parse_fasta_lines(path, AlignmentFormatError)
        records = [Record(r.name, r.sequence.upper().replace(".", "-")) for r in raw]
    if not records:
        raise AlignmentFormatError(f"{path}: no alignment rows found")
    width = len(records[0].sequence)
    if width == 0:
        raise AlignmentFormatError(f"{path}: the query (row 1, {records[0].name!r}) is empty")
    for index, record in enumerate(records):
        if len(record.sequence) != width:
            raise AlignmentFormatError(
                f"{path}: row {index + 1} ({record.name!r}) has {len(record.sequence)} aligned columns; "
                f"the query has {width}"
            )
    return records


@dataclass(frozen=True)
class RRContacts:
    """The contents of a CASP RR file; residue indices are 0-based here (the file's are 1-based).

    Attributes:
        sequence: the file's sequence lines joined and upper-cased, or None when it has none.
        i: int64 [N], the first residue of each contact line (0-based; i < j).
        j: int64 [N], the second residue of each contact line (0-based).
        score: float64 [N], the last column of each contact line (the probability p).
    """

    sequence: str | None
    i: torch.Tensor
    j: torch.Tensor
    score: torch.Tensor

    def to_map(self, length: int | None = None, fill: float = -math.inf) -> torch.Tensor:
        """A symmetric [L, L] float map; pairs not in the file get `fill` (-inf: "not predicted").

        A pair listed more than once keeps its highest score; a score below `fill` is raised to `fill`.

        Args:
            length: L, the size of the map; None takes the length of the file's sequence.
            fill: the value of the pairs (and the diagonal) the file does not list.

        Returns:
            A symmetric float64 tensor [L, L].

        Raises:
            RRFormatError: if `length` is None and the file has no sequence, or a residue index is >= `length`.
        """
        if length is None:
            if self.sequence is None:
                raise RRFormatError("the RR file has no sequence; pass length=")
            length = len(self.sequence)
        if self.i.numel() and int(torch.maximum(self.i, self.j).max()) >= length:
            raise RRFormatError(
                f"RR file names residue {int(torch.maximum(self.i, self.j).max()) + 1} > length {length}"
            )
        out = torch.full((length, length), fill, dtype=torch.float64)
        for a, b, s in zip(self.i.tolist(), self.j.tolist(), self.score.tolist(), strict=True):
            value = max(s, out[a, b].item())
            out[a, b] = out[b, a] = value
        return out

    def to_rank_map(self, length: int | None = None) -> torch.Tensor:
        """A symmetric [L, L] map of ranks: the best listed pair scores N, the next N - 1, ...; unlisted -inf.

        Pairs are ranked by score, highest first, ties kept in file order (a CASP RR file lists its pairs
        best first). Scoring this map reproduces the ranking the file was written from, even where its
        rounded probabilities tie, which `to_map` cannot.

        Args:
            length: L, the size of the map; None takes the length of the file's sequence.

        Returns:
            A symmetric float64 tensor [L, L]; a pair listed twice keeps its better rank.

        Raises:
            RRFormatError: as `to_map`.
        """
        order = torch.sort(self.score, descending=True, stable=True).indices
        ranks = torch.empty_like(self.score)
        ranks[order] = torch.arange(len(order), 0, -1, dtype=torch.float64)
        return RRContacts(self.sequence, self.i, self.j, ranks).to_map(length)


_RR_HEADERS = ("PFRMAT", "TARGET", "AUTHOR", "METHOD", "REMARK", "MODEL", "END", "RMSD", "SCORE")


def _checked_pair(a: int, b: int, score: float, where: str, shown: str) -> tuple[int, int, float]:
    """One listed pair (1-based a, b) as (i, j, score) with 0-based i < j; RRFormatError at `where` if not valid."""
    if a < 1 or b < 1 or a == b or not math.isfinite(score):
        raise RRFormatError(f"{where}: residues must be >= 1, distinct, score finite: {shown}")
    return min(a, b) - 1, max(a, b) - 1, score


def read_rr(path: PathLike) -> RRContacts:
    """Read a CASP RR file ("i j d_min d_max p" or "i j p" lines, 1-based), with or without headers.

    Header lines (PFRMAT, TARGET, AUTHOR, METHOD, REMARK, MODEL, END, ...) are skipped; a line of letters
    only, before the contact lines, is part of the sequence. The distance bounds d_min and d_max are ignored.

    Args:
        path: the RR file; a name ending in ".gz" is read as gzip.

    Returns:
        The sequence (or None) and the contacts with 0-based indices, i < j, in file order.

    Raises:
        RRFormatError: if a line has neither 3 nor 5 fields, holds something other than numbers, names a
            residue < 1, the same residue twice, or one beyond the file's sequence, has a non-finite score,
            or if sequence text follows the contact lines.
    """
    sequence_parts: list[str] = []
    pairs: list[tuple[int, int, float]] = []
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields or fields[0].upper() in _RR_HEADERS:
                continue
            if len(fields) == 1 and fields[0].isalpha():
                if pairs:
                    raise RRFormatError(f"{path}: line {number}: sequence text after the contact lines")
                sequence_parts.append(fields[0].upper())
                continue
            if len(fields) not in (3, 5):
                raise RRFormatError(
                    f"{path}: line {number}: expected 'i j d_min d_max p' or 'i j p'; got {line.strip()!r}"
                )
            try:
                a, b = int(fields[0]), int(fields[1])
                score = float(fields[-1])
            except ValueError:
                raise RRFormatError(f"{path}: line {number}: not numbers: {line.strip()!r}") from None
            pairs.append(_checked_pair(a, b, score, f"{path}: line {number}", repr(line.strip())))
    sequence = "".join(sequence_parts) or None
    if sequence is not None:
        for _, b, _ in pairs:
            if b >= len(sequence):
                raise RRFormatError(f"{path}: residue {b + 1} is beyond the file's sequence of length {len(sequence)}")
    tensor = torch.tensor(pairs, dtype=torch.float64).reshape(-1, 3)
    return RRContacts(sequence, tensor[:, 0].long(), tensor[:, 1].long(), tensor[:, 2])


def write_rr(
    path: PathLike,
    contact_map: torch.Tensor,
    sequence: str | None = None,
    *,
    k: int | None = None,
    min_separation: int = 6,
    target: str = "interp",
    method: str = "interp",
    pairs: Sequence[Pair] | None = None,
) -> None:
    """Write the top-k pairs (all pairs with j - i >= min_separation when k is None) as a CASP RR file.

    RR wants probabilities in [0, 1]: scores are min-max scaled over the written pairs (order kept; all 1.0
    when every written score is equal). Each pair is written as "i j 0 8 p" with 1-based indices, best first,
    after PFRMAT, TARGET, AUTHOR, METHOD, REMARK and MODEL headers; the file is replaced atomically.

    Args:
        path: the file to write (missing parent folders are created).
        contact_map: a square map [L, L] (tensor or array-like) without NaN or infinite values.
        sequence: the sequence of L residues, written in lines of 50 after the headers; None writes none.
        k: how many pairs to write (the best first); None writes every pair with j - i >= `min_separation`.
        min_separation: the smallest sequence separation j - i written.
        target: the TARGET header's value.
        method: the METHOD header's value.
        pairs: the pairs to write instead of the top k, best first, with their scores from `contact_map`
            (e.g. `interp.files.outputs.pairs_for_every_range`).

    Raises:
        RRFormatError: if `sequence` does not have L residues.
        ContactMapError: if `contact_map` is not square [L, L] or holds NaN or infinite values.
    """
    contact_map = torch.as_tensor(contact_map)
    length = contact_map.shape[0]
    if sequence is not None and len(sequence) != length:
        raise RRFormatError(f"sequence has {len(sequence)} residues, the map {length}")
    if pairs is None:
        pairs = top_pairs(contact_map, k if k is not None else length * length, min_separation=min_separation)
    scores = np.array([p.score for p in pairs], dtype=np.float64)
    span = float(scores.max() - scores.min()) if len(scores) else 0.0
    scaled = (scores - scores.min()) / span if span > 0 else np.ones_like(scores)
    with atomic_write(path) as handle:
        handle.write(f"PFRMAT RR\nTARGET {target}\nAUTHOR interp\nMETHOD {method}\n")
        handle.write("REMARK scores min-max scaled to [0, 1]; 0 8 = C-beta distance bounds\nMODEL  1\n")
        if sequence:
            for start in range(0, len(sequence), 50):
                handle.write(sequence[start : start + 50] + "\n")
        for pair, score in zip(pairs, scaled, strict=True):
            handle.write(f"{pair.i + 1} {pair.j + 1} 0 8 {score:.5f}\n")
        handle.write("END\n")


def save_contacts(path: PathLike, contacts: Any, *, sequence: str | None = None, **extra: Any) -> None:
    """Save a contact map (and the sequence and any extra arrays or scalars) as a compressed .npz.

    The file is written to a temporary file and renamed, so an interrupted save leaves no half-written file.
    Nothing is pickled: `load_contacts` reads the file back with `allow_pickle=False`.

    Args:
        path: the file to write, exactly as named (no ".npz" is appended); missing parent folders are created.
        contacts: the map [L, L], a tensor (moved to the CPU) or an array-like; stored under "contacts".
        sequence: stored under "sequence" as a string; None stores none.
        **extra: further arrays, tensors, strings or scalars stored under their keyword; None values are skipped.
    """
    arrays = {"contacts": np.asarray(torch.as_tensor(contacts).detach().cpu().numpy())}
    if sequence is not None:
        arrays["sequence"] = np.array(sequence)
    for key, value in extra.items():
        if value is None:
            continue
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        arrays[key] = np.asarray(value)
    with atomic_write(path, "wb") as handle:
        np.savez_compressed(handle, **cast(dict[str, Any], arrays))


def load_contacts(path: PathLike) -> dict[str, Any]:
    """Load a .npz written by `save_contacts`: tensors for arrays, str for the sequence (no pickles).

    Args:
        path: the .npz file.

    Returns:
        A dict by key: a torch.Tensor for each array (sharing memory with the loaded numpy array), a str for
            each string (a list of str for a string array), a Python scalar for each 0-d number.

    Raises:
        ContactMapError: if the file is missing, not a .npz, truncated, or holds pickled objects.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            out: dict[str, Any] = {}
            for key in data.files:
                value = data[key]
                if value.dtype.kind == "U":
                    out[key] = str(value) if value.ndim == 0 else value.tolist()
                elif value.ndim == 0:
                    out[key] = value.item()
                else:
                    out[key] = torch.from_numpy(value)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:  # objects (pickles), not a .npz, torn
        raise ContactMapError(f"{path}: not a contact file interp can read safely ({error})") from None
    return out


def read_pairs_csv(path: PathLike) -> RRContacts:
    """Read the top-pairs CSV that `interp contacts` writes (columns `i_1based`, `j_1based`, `score`, ...).

    Args:
        path: the CSV file.

    Returns:
        The pairs as `RRContacts` with 0-based indices, in file order, and no sequence (the CSV holds none).

    Raises:
        RRFormatError: if the header lacks `i_1based`, `j_1based` or `score` (a CSV with plain `i` and `j`
            columns does not say which residue numbering it uses, so it is refused), or a row does not parse.
    """
    pairs: list[tuple[int, int, float]] = []
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        missing = {"i_1based", "j_1based", "score"} - set(reader.fieldnames or [])
        if missing:
            raise RRFormatError(
                f"{path}: a pairs CSV needs the columns i_1based, j_1based and score; missing {sorted(missing)}"
            )
        for number, row in enumerate(reader, start=2):
            try:
                a, b, score = int(row["i_1based"]), int(row["j_1based"]), float(row["score"])
            except (TypeError, ValueError):
                raise RRFormatError(f"{path}: line {number}: not numbers: {row}") from None
            pairs.append(_checked_pair(a, b, score, f"{path}: line {number}", str(row)))
    tensor = torch.tensor(pairs, dtype=torch.float64).reshape(-1, 3)
    return RRContacts(None, tensor[:, 0].long(), tensor[:, 1].long(), tensor[:, 2])


__all__ = [
    "Record",
    "RRContacts",
    "read_fasta",
    "read_alignment",
    "read_rr",
    "read_pairs_csv",
    "write_rr",
    "save_contacts",
    "load_contacts",
    "atomic_write",
]


def _file_safe(record_id: str) -> str:
    """Letters, digits, . _ - only, at most 80 characters, never starting with a dot."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", record_id)[:80].lstrip(".") or "record"


def safe_file_name(record_id: str, suffix: str = ".npz") -> str:
    """A file name for a record id that stays inside its folder: letters, digits, . _ - only, at most 80
    characters, never starting with a dot. An id that had to change gets a hash of the full id appended,
    so distinct ids never share a file."""
    stem = _file_safe(record_id)
    if stem == record_id:
        return f"{stem}{suffix}"
    digest = hashlib.sha1(record_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{stem}-{digest}{suffix}"


def unique_file_stems(record_ids: Sequence[str]) -> list[str]:
    """File stems for the records of one run: each id made file-safe (letters, digits, . _ - only, at most 80
    characters, never starting with a dot), with "-2", "-3", ... appended only where two records would share
    a stem.

    Args:
        record_ids: the records' identifiers, in file order.

    Returns:
        One distinct stem per id, in the same order; the first record of a shared stem keeps it plain.
    """
    stems: list[str] = []
    used: set[str] = set()
    for record_id in record_ids:
        base = _file_safe(record_id)
        stem, n = base, 1
        while stem in used:
            n += 1
            stem = f"{base}-{n}"
        used.add(stem)
        stems.append(stem)
    return stems
