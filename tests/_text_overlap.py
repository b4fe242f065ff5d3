"""Which text boxes of a drawn figure overlap: the check behind "a reader can read every figure".

The figure is drawn once with :meth:`matplotlib.text.Text.draw` wrapped, so exactly the texts the renderer
draws are measured (titles, axis labels, tick labels of the ticks in view, legend entries, annotations, the
suptitle), each by its extent in display pixels at the moment it is drawn (after ``tight_layout`` and the
legends have placed themselves). Two boxes overlap when their intersection exceeds half a pixel in both
directions, a margin that absorbs the rounding of boxes that merely touch.
"""

from __future__ import annotations

from unittest import mock

from matplotlib.text import Text

MARGIN_PX = 0.5


def drawn_text_boxes(fig) -> list[tuple[str, object]]:
    """``(text, extent)`` of every non-empty text the renderer draws for ``fig``."""
    drawn = []
    original = Text.draw

    def draw(self, renderer):
        original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            box = self.get_window_extent(renderer)
            if box.width > 0 and box.height > 0:
                drawn.append((self.get_text(), box))

    with mock.patch.object(Text, "draw", draw):
        fig.canvas.draw()
    return drawn


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs ``(text, text)`` whose boxes overlap in the rendered figure."""
    boxes = drawn_text_boxes(fig)
    pairs = []
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            width = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            height = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            if width > MARGIN_PX and height > MARGIN_PX:
                pairs.append((a, b))
    return pairs
