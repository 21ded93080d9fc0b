"""Charts as server-rendered SVG (as the monthly report's are): no JavaScript, readable by a
screen reader (a title and a table below each chart), series told apart by a legend with
names as well as colours."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.html import escape

COLOURS = ["#b91c1c", "#c2410c", "#a16207", "#4b5563", "#2563eb", "#15803d", "#7c3aed"]
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 240, 48, 36, 16


@dataclass
class Chart:
    name: str  # for the CSV link and tests
    title: str
    categories: list[str]
    series: dict[str, list[float | None]]
    kind: str = "bars"  # bars (stacked), grouped (side by side) or lines
    unit: str = ""

    def rows(self) -> list[list]:
        """The table under the chart: a category per row, a series per column."""
        return [
            [category, *(values[n] for values in self.series.values())]
            for n, category in enumerate(self.categories)
        ]

    def svg(self) -> str:
        plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
        top = self._top()
        count = max(len(self.categories), 1)
        slot = plot_w / count
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'role="img" aria-labelledby="chart-{self.name}-title" data-chart="{self.name}" '
            f'class="chart">',
            f'<title id="chart-{self.name}-title">{escape(self.title)}</title>',
            f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 8}" y2="{TOP + plot_h}" '
            'stroke="#9ca3af"/>',
        ]
        for fraction in (0, 0.5, 1):
            y = TOP + plot_h - fraction * plot_h
            parts.append(
                f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">'
                f"{top * fraction:g}{escape(self.unit)}</text>"
            )
        label_every = max(1, count // 12)
        for n, category in enumerate(self.categories):
            if n % label_every == 0:
                x = LEFT + slot * n + slot / 2
                parts.append(
                    f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
                    f'font-size="10">{escape(category)}</text>'
                )
        draw = {"bars": self._bars, "grouped": self._grouped, "lines": self._lines}[self.kind]
        parts += draw(slot, plot_h, top)
        for n, label in enumerate(self.series):
            x = LEFT + n * 110
            parts.append(
                f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" '
                f'fill="{COLOURS[n % len(COLOURS)]}"/>'
                f'<text x="{x + 14}" y="{HEIGHT - 5}" font-size="10">{escape(label)}</text>'
            )
        parts.append("</svg>")
        return "".join(parts)

    def _top(self) -> float:
        if self.kind == "bars":  # stacked: the tallest stack
            totals = [
                sum(values[n] or 0 for values in self.series.values())
                for n in range(len(self.categories))
            ]
        else:
            totals = [v or 0 for values in self.series.values() for v in values]
        highest = max(totals, default=0) or 1
        magnitude = 10 ** (len(str(int(highest))) - 1)
        return (int(highest / magnitude) + 1) * magnitude

    def _bars(self, slot: float, plot_h: float, top: float) -> list[str]:
        parts = []
        for n in range(len(self.categories)):
            y = TOP + plot_h
            for s, (label, values) in enumerate(self.series.items()):
                height = (values[n] or 0) / top * plot_h
                if height <= 0:
                    continue
                y -= height
                parts.append(
                    f'<rect x="{LEFT + slot * n + slot * 0.15:.1f}" y="{y:.1f}" '
                    f'width="{slot * 0.7:.1f}" height="{height:.1f}" '
                    f'fill="{COLOURS[s % len(COLOURS)]}" data-series="{escape(label)}">'
                    f"<title>{escape(label)} {escape(self.categories[n])}: {values[n]:g}</title>"
                    "</rect>"
                )
        return parts

    def _grouped(self, slot: float, plot_h: float, top: float) -> list[str]:
        parts, width = [], slot * 0.8 / max(len(self.series), 1)
        for n in range(len(self.categories)):
            for s, (label, values) in enumerate(self.series.items()):
                height = (values[n] or 0) / top * plot_h
                x = LEFT + slot * n + slot * 0.1 + s * width
                parts.append(
                    f'<rect x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{width:.1f}" '
                    f'height="{height:.1f}" fill="{COLOURS[s % len(COLOURS)]}" '
                    f'data-series="{escape(label)}"><title>{escape(label)} '
                    f"{escape(self.categories[n])}: {values[n] if values[n] is not None else '—'}"
                    "</title></rect>"
                )
        return parts

    def _lines(self, slot: float, plot_h: float, top: float) -> list[str]:
        parts = []
        for s, (label, values) in enumerate(self.series.items()):
            points = [
                f"{LEFT + slot * n + slot / 2:.1f},{TOP + plot_h - v / top * plot_h:.1f}"
                for n, v in enumerate(values)
                if v is not None
            ]
            if points:
                parts.append(
                    f'<polyline fill="none" stroke="{COLOURS[s % len(COLOURS)]}" '
                    f'stroke-width="2" points="{" ".join(points)}" data-series="{escape(label)}"/>'
                )
        return parts
