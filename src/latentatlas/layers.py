"""Layer selection: 0 is the embedding output, 1..L the blocks, negative indices count from the end."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import BadInputError

LayerSelection = str | int | Sequence[int]


def resolve_layers(selection: LayerSelection, num_layers: int) -> list[int]:
    """Resolve ``'all'``, ``'last'``, an int, a list of ints, or a ``'a:b'`` range to sorted indices.

    ``num_layers`` is the number of transformer blocks L; valid indices are 0..L (and −(L+1)..−1).
    """
    n_states = num_layers + 1
    if isinstance(selection, str):
        text = selection.strip().lower()
        if text == "all":
            return list(range(n_states))
        if text == "last":
            return [num_layers]
        if ":" in text:
            start_s, _, stop_s = text.partition(":")
            try:
                start = int(start_s) if start_s else 0
                stop = int(stop_s) if stop_s else n_states
            except ValueError:
                raise BadInputError(f"layer range {selection!r} is not of the form START:STOP with integers, "
                                    "e.g. '1:4' or '2:'.") from None
            return sorted({_one(i, num_layers) for i in range(*slice(start, stop).indices(n_states))})
        try:
            values: list[int] = [int(v) for v in text.split(",")]
        except ValueError:
            raise BadInputError(
                f"layer selection {selection!r} is not understood; use 'all', 'last', an index, "
                "a comma list like '0,3,-1' or a range like '1:4'."
            ) from None
        return sorted({_one(v, num_layers) for v in values})
    if isinstance(selection, int):
        return [_one(selection, num_layers)]
    return sorted({_one(int(v), num_layers) for v in selection})


def check_selection(selection: LayerSelection) -> LayerSelection:
    """``selection`` if its form is valid (a BadInputError otherwise), before any model is known;
    whether its indices exist is checked against each model by :func:`resolve_layers`."""
    resolve_layers(selection, 1 << 20)
    return selection


def _one(index: int, num_layers: int) -> int:
    n_states = num_layers + 1
    if not -n_states <= index < n_states:
        raise BadInputError(
            f"layer {index} is out of range for a model with {num_layers} blocks; valid layers are "
            f"0..{num_layers} (0 = embeddings) or -{n_states}..-1."
        )
    return index % n_states
