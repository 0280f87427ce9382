"""The report's stylesheet (report.css beside this file) and the chart width it is written for."""

from importlib import resources

# A4 with 12 mm side margins leaves 186 mm, about 700 CSS pixels: charts are drawn at this width
# for print so that nothing is clipped at the right edge.
PRINT_WIDTH_PX = 700

# Shipped inside the package (pyproject.toml, package-data): the command line writes the same report
# on a machine that has the engine installed and no copy of the repository.
CSS = resources.files("tlcompare.report").joinpath("report.css").read_text(encoding="utf-8")
