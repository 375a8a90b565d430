"""Label vectors held as bfloat16 bit patterns: compact, and fast to widen to float32.

numpy widens float16 to float32 slowly (about 1 ms for the thousand label vectors of one query's
candidates); bfloat16 is the top half of a float32, so widening is one integer shift. Rounding a
unit vector's components to it moves a cosine by about 1e-4.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

Bits = npt.NDArray[np.uint16]
_STEP = 2048  # rows per chunk: a few MB of float32 temporaries, never the whole matrix


def to_bits(vectors: npt.NDArray[np.float16] | npt.NDArray[np.float32]) -> Bits:
    """The vectors rounded to bfloat16 (to nearest even), as raw 16-bit patterns."""
    bits = np.empty(vectors.shape, dtype=np.uint16)
    for start in range(0, len(vectors), _STEP):  # chunked: no float32 copy of the whole matrix
        wide = np.asarray(vectors[start : start + _STEP], dtype=np.float32).view(np.uint32)
        rounding = np.uint32(0x7FFF) + ((wide >> np.uint32(16)) & np.uint32(1))
        bits[start : start + _STEP] = ((wide + rounding) >> np.uint32(16)).astype(np.uint16)
    return bits


def from_bits(bits: Bits) -> npt.NDArray[np.float32]:
    """bfloat16 bit patterns widened to float32 (a new array)."""
    result: npt.NDArray[np.float32] = (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)
    return result


def read_float16(path: Path, shape: tuple[int, int]) -> Bits | None:
    """A float16 `.npy` matrix as bfloat16 bits; None if it has another shape or is cut short.

    Read in chunks with plain file reads rather than memory-mapped, so that the float16 copy
    never stays resident next to the converted one (ESCO's skill labels are 85 MB of it).
    """
    rows, width = shape
    with path.open("rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            found, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            found, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        if found != shape or fortran or dtype != np.float16:
            return None
        bits = np.empty(shape, dtype=np.uint16)
        for start in range(0, rows, _STEP):
            count = min(_STEP, rows - start)
            chunk = np.fromfile(handle, dtype=np.float16, count=count * width)
            if len(chunk) != count * width:
                return None
            bits[start : start + count] = to_bits(chunk.reshape(count, width))
    return bits
