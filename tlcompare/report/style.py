"""The report's stylesheet: readable on screen, and on paper without cut tables or split charts."""

# A4 with 12 mm side margins leaves 186 mm, about 700 CSS pixels: charts are drawn at this width
# for print so that nothing is clipped at the right edge.
PRINT_WIDTH_PX = 700

CSS = """
:root { --ink: #1d232b; --muted: #5b6470; --line: #d9dde3; --soft: #f4f6f8; --accent: #1C5FA8; }
* { box-sizing: border-box; }
body { font: 15px/1.5 "Source Sans Pro", "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1120px; padding: 28px 32px 64px; }
h1 { font-size: 28px; margin: 0 0 4px; line-height: 1.25; }
h2 { font-size: 23px; margin: 0 0 6px; padding-top: 8px; border-top: 3px solid var(--ink); line-height: 1.3; }
h3 { font-size: 18px; margin: 30px 0 8px; }
h4 { font-size: 15px; margin: 18px 0 4px; color: var(--muted); }
p, li { overflow-wrap: anywhere; }
.muted, .generated { color: var(--muted); }
.generated { font-size: 13px; margin: 0 0 18px; }
nav.toc { background: var(--soft); border-radius: 6px; padding: 10px 18px; margin: 0 0 26px; font-size: 14px; }
nav.toc ol { margin: 4px 0; padding-left: 20px; }
nav.toc a { color: var(--accent); text-decoration: none; }
section.experiment, section.comparison { margin-top: 44px; }
.meta { color: var(--muted); margin: 0 0 14px; }
.verdict { border-left: 5px solid var(--accent); background: var(--soft); padding: 12px 18px; margin: 12px 0 18px; }
.verdict .answer { font-size: 19px; font-weight: 600; margin: 0 0 6px; }
.verdict ul { margin: 4px 0 0; padding-left: 20px; }
.notes { white-space: pre-wrap; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px;
         margin: 0 0 14px; overflow-wrap: anywhere; }
.warning { border-left: 5px solid #D55E00; background: #fdf1ea; padding: 8px 14px; }
.chart { width: 100%; margin: 6px 0 2px; }
.hint { color: var(--muted); font-size: 13px; margin: 0 0 18px; }
.twocol { display: grid; grid-template-columns: 1fr 1fr; gap: 0 28px; align-items: start; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 13.5px; }
th, td { padding: 3px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
td { overflow-wrap: break-word; }  /* long user text may break; column widths still follow whole words */
th { background: var(--soft); font-weight: 600; }
td.nowrap { white-space: nowrap; overflow-wrap: normal; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; overflow-wrap: normal; }
table.kv td:first-child { color: var(--muted); white-space: nowrap; }
table.kv td { overflow-wrap: anywhere; }
table.kv { width: 100%; table-layout: fixed; }
table.kv col.k { width: 38%; }
table.runs { font-size: 12.5px; }
.wide { overflow-x: auto; }
tr.status-failed td, tr.status-cancelled td { color: #a33; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }

@page { size: A4; margin: 14mm 12mm 16mm;
        @bottom-left { content: "tlcompare report"; font: 8pt Helvetica, Arial, sans-serif; color: #777; }
        @bottom-right { content: "page " counter(page) " of " counter(pages); font: 8pt Helvetica, Arial, sans-serif;
                        color: #777; } }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  h1 { font-size: 20pt; }
  h2 { font-size: 16pt; }
  h3 { font-size: 12.5pt; margin-top: 16px; }
  .verdict .answer { font-size: 12.5pt; }
  nav.toc a { color: var(--ink); }
  section.experiment, section.comparison, .appendix, .mistakes, .setup { break-before: page; margin-top: 0; }
  section:first-of-type { break-before: auto; margin-top: 24px; }  /* right under the title, not alone on page 1 */
  h2, h3, h4 { break-after: avoid; }
  .chart, .verdict, .figure { break-inside: avoid; }
  .chart { width: 700px !important; }
  .hint { font-size: 8.5pt; margin-bottom: 10px; }
  .wide { overflow: visible; }
  table { font-size: 8.5pt; }
  table.runs { font-size: 7pt; }
  th, td { padding: 2px 4px; }
  tr, .kv tr { break-inside: avoid; }
  thead { display: table-header-group; }
  .twocol { display: block; }
  .modebar-container { display: none !important; }
}
"""
