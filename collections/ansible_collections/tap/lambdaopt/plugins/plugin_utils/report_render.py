# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The savings report for people: Markdown for a ticket or pull request, and one self-contained HTML
page (inline style and SVG chart, nothing fetched from anywhere)."""

from __future__ import annotations

from html import escape

COMPONENT_NAMES = {
    "lambda": "Lambda compute and requests",
    "log_ingestion": "Log ingestion",
    "log_storage": "Log storage",
    "hardening": "Hardening (alarms, X-Ray, secrets, dead-letter queue)",
    "provisioned_concurrency": "Provisioned concurrency",
    "data_store": "Data store (DynamoDB throughput)",
}


def money(amount: float) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def span(triple: dict) -> str:
    low, high = min(triple.values()), max(triple.values())
    return money(low) if low == high else f"{money(low)} to {money(high)}"


def value(setting, name: str = "") -> str:
    if setting is None:
        return "never expire" if name == "log_retention_days" else "none"
    if isinstance(setting, list):
        return ", ".join(str(item) for item in setting) or "none"
    return str(setting)


def retention(days) -> str:
    return "never expire" if days is None else f"{days} d"


def headline(report: dict) -> str:
    net = report["totals"]["net_monthly_savings"]
    annual = report["totals"]["annual_savings"]["expected"]
    text = f"Net savings: {money(net['expected'])} a month expected ({money(net['low'])} to {money(net['high'])})"
    return f"{text}, {money(annual)} a year."


def context_lines(report: dict) -> list:
    prices = report["prices"]
    window = report["window"] or {}
    lines = [f"Account {report['account_id'] or 'unknown'}, region {report['region']}; usage window "
             f"{window.get('start', '?')} to {window.get('end', '?')} ({window.get('days', '?')} days)."]
    price_line = f"Prices: {prices['region']}, checked {prices['checked']} ({prices['table']})."
    if prices["fallback"]:
        price_line += f" {report['region']} is not in the table: {prices['region']} prices used, as asked."
    lines.append(price_line)
    if report["totals"]["functions_without_data"]:
        lines.append("No usage data, so their compute cost is unknown and left out of the totals: "
                     + ", ".join(report["totals"]["functions_without_data"]) + ".")
    return lines


UNKNOWN_MARK = {"no_data": " (no usage data)", "measured": " (partly unknown)"}


def rows_of(report: dict) -> list:
    """(name, memory, retention, before, after, savings) per function, then the shared lines."""
    rows = []
    for row in report["functions"]:
        memory = row["memory_size"]
        days = row["log_retention_days"]
        rows.append((row["function_name"] + UNKNOWN_MARK.get(row["status"] if row["unknown"] else "", ""),
                     f"{memory['before']} -> {memory['after']} MB" if memory["before"] != memory["after"]
                     else f"{memory['before']} MB",
                     "" if days is None else (f"{retention(days['before'])} -> {retention(days['after'])}"
                                              if days["before"] != days["after"] else retention(days["before"])),
                     row["before"], row["after"], row["savings"]))
    if report["shared"]["lines"]:
        shared = report["shared"]
        rows.append(("shared: " + ", ".join(line["item"] for line in shared["lines"]), "", "",
                     shared["before"], shared["after"], shared["savings"]))
    return rows


CONTEXTS = {"sqs": "SQS queue", "api_gateway": "API Gateway caller", "stream": "stream", "trend": "usage trend"}


def with_evidence(text: str, told: dict) -> str:
    """A right-sizing note with the evidence of how the code scales that its projection used."""
    if not told.get("evidence"):
        return text
    return f"{text if text.endswith('.') else text + '.'} Evidence: {told['evidence']}."


def notes(report: dict) -> dict:
    """Per section, (function, text) for each change, delivery to an alias's traffic, refusal, failure and unknown
    figure."""
    sections = {"changes": [], "delivery": [], "refused": [], "failed": [], "unknown": []}
    for row in report["functions"]:
        name = row["function_name"]
        for change in row["changes"]:
            setting = change["setting"]
            sections["changes"].append((name, with_evidence(f"{setting}: {value(change['before'], setting)} -> "
                                                            f"{value(change['after'], setting)}. "
                                                            f"{change['reason'] or ''}".strip(), change)))
        if row.get("delivery"):
            sections["delivery"].append((name, f"right-sizing through its alias: {row['delivery']}"))
        for refusal in row["refused"]:
            requested = "" if refusal["requested"] is None else f" {value(refusal['requested'])}"
            risk = "" if refusal["risk"] == refusal["reason"] else f" Risk: {refusal['risk'] or 'unknown'}."
            # A refusal by a guard of the function's context (what invokes it, its trend) says which.
            context = f" by its {CONTEXTS.get(refusal['context'], refusal['context'])}" if refusal.get("context") \
                else ""
            sections["refused"].append((name, with_evidence(f"{refusal['setting']}{requested} refused{context}: "
                                                            f"{refusal['reason']}.{risk}", refusal)))
        for failure in row["failed"]:
            sections["failed"].append((name, f"{failure['task']}: {failure['error']}"))
        for unknown in row["unknown"]:
            sections["unknown"].append((name, f"{unknown['item']}: {unknown['reason']}"))
    return sections


SECTION_TITLES = {
    "changes": "Changes", "delivery": "Delivered to aliased functions' traffic",
    "refused": "Refused changes and their risk", "failed": "Failures",
    "unknown": "Figures unknown (left out, not counted as zero)",
}


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(report: dict) -> str:
    totals = report["totals"]
    out = [f"# Lambda savings: {report['account_id'] or 'unknown account'} {report['region']}", "",
           f"**{report['label']}**", "", f"**{headline(report)}**", ""]
    out += [line + "  " for line in context_lines(report)] + [""]
    if report.get("warnings"):
        out += ["## Warnings", ""] + [f"- **{_cell(text)}**" for text in report["warnings"]] + [""]
    out += ["## Totals (a month)", "", "| | Before | After (expected) | Savings (expected) | Savings range |",
            "|---|---:|---:|---:|---:|"]
    for component, name in COMPONENT_NAMES.items():
        figures = totals["by_component"][component]
        out.append(f"| {name} | {money(figures['before']['expected'])} | {money(figures['after']['expected'])} | "
                   f"{money(figures['savings']['expected'])} | {span(figures['savings'])} |")
    out.append(f"| **Total** | **{money(totals['before']['expected'])}** | **{money(totals['after']['expected'])}** "
               f"| **{money(totals['savings']['expected'])}** | {span(totals['savings'])} |")
    out += ["", "## Per function (a month)", "",
            "| Function | Memory | Log retention | Before | After (expected) | Savings (expected) | Savings range |",
            "|---|---|---|---:|---:|---:|---:|"]
    for name, memory, days, before, after, saved in rows_of(report):
        out.append(f"| {_cell(name)} | {memory} | {days} | {money(before['expected'])} | "
                   f"{money(after['expected'])} | {money(saved['expected'])} | {span(saved)} |")
    out.append(f"| **Total** | | | **{money(totals['before']['expected'])}** | "
               f"**{money(totals['after']['expected'])}** | **{money(totals['savings']['expected'])}** | "
               f"{span(totals['savings'])} |")
    for section, entries in notes(report).items():
        if entries:
            out += ["", f"## {SECTION_TITLES[section]}", ""]
            out += [f"- **{name}** {_cell(text)}" for name, text in entries]
    out += ["", "## Assumptions", ""] + [f"- {text}" for text in report["assumptions"].values()]
    sources = report["prices"]["sources"]
    out += ["", "## Price sources", ""] + [f"- {service}: {url}" for service, url in sources.items()]
    return "\n".join(out) + "\n"


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:70rem;color:#1d2733;
padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
.label{display:inline-block;padding:.3rem .6rem;border-radius:.3rem;font-weight:600}
.dry_run{background:#fff3cd;color:#664d03}.applied{background:#d1e7dd;color:#0f5132}
.headline{font-size:1.3rem;font-weight:600;margin:1rem 0}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border-bottom:1px solid #d5dbe1;padding:.35rem .5rem;
text-align:left;vertical-align:top}td.num,th.num{text-align:right;white-space:nowrap}tr.total td{font-weight:700}
svg text{font-size:12px;fill:#1d2733}.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;
vertical-align:middle}
"""
BEFORE_COLOUR, AFTER_COLOUR = "#9aa5b1", "#2a9d8f"


def chart(report: dict) -> str:
    """Horizontal bars per function: before, and after (expected) with its range as a whisker."""
    rows = rows_of(report)
    label_width, bar_width, row_height = 260, 460, 40
    largest = max([max(*before.values(), *after.values())
                   for _name, _memory, _days, before, after, _saved in rows] + [0.01])
    scale = bar_width / largest
    width, height = label_width + bar_width + 90, row_height * len(rows) + 10
    parts = [f'<svg role="img" aria-label="Monthly cost per function, before and after" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}">']
    for index, (name, _memory, _days, before, after, _saved) in enumerate(rows):
        top = index * row_height + 5
        parts.append(f'<text x="0" y="{top + 18}">{escape(name[:40])}</text>')
        for offset, amount, colour in ((0, before["expected"], BEFORE_COLOUR), (16, after["expected"], AFTER_COLOUR)):
            length = max(amount, 0) * scale
            text = escape(money(amount))
            parts.append(f'<rect x="{label_width}" y="{top + offset}" width="{length:.1f}" height="13" '
                         f'fill="{colour}"><title>{text}</title></rect>')
            parts.append(f'<text x="{label_width + length + 6:.1f}" y="{top + offset + 11}">{text}</text>')
        low, high = min(after.values()) * scale, max(after.values()) * scale
        if high > low:
            middle = top + 16 + 6.5
            parts.append(f'<line x1="{label_width + low:.1f}" x2="{label_width + high:.1f}" y1="{middle}" '
                         f'y2="{middle}" stroke="#1d2733" stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list, rows: list, numeric_from: int, total: list | None = None) -> str:
    head = "".join(f'<th class="{"num" if index >= numeric_from else ""}">{escape(text)}</th>'
                   for index, text in enumerate(headers))
    body = []
    for cells, css in [(row, "") for row in rows] + ([(total, "total")] if total else []):
        body.append(f'<tr class="{css}">' + "".join(
            f'<td class="{"num" if index >= numeric_from else ""}">{escape(str(cell))}</td>'
            for index, cell in enumerate(cells)) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html(report: dict) -> str:
    totals = report["totals"]
    title = f"Lambda savings: {report['account_id'] or 'unknown account'} {report['region']}"
    component_rows = [[name, money(totals["by_component"][key]["before"]["expected"]),
                       money(totals["by_component"][key]["after"]["expected"]),
                       money(totals["by_component"][key]["savings"]["expected"]),
                       span(totals["by_component"][key]["savings"])] for key, name in COMPONENT_NAMES.items()]
    total_row = ["Total", money(totals["before"]["expected"]), money(totals["after"]["expected"]),
                 money(totals["savings"]["expected"]), span(totals["savings"])]
    function_rows = [[name, memory, days, money(before["expected"]), money(after["expected"]),
                      money(saved["expected"]), span(saved)]
                     for name, memory, days, before, after, saved in rows_of(report)]
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p><span class="label {escape(report["mode"])}">{escape(report["label"])}</span></p>',
        f'<p class="headline">{escape(headline(report))}</p>',
        *(f"<p>{escape(line)}</p>" for line in context_lines(report)),
        *([f"<h2>Warnings</h2><ul>{''.join(f'<li><strong>{escape(text)}</strong></li>' for text in report['warnings'])}"
           "</ul>"] if report.get("warnings") else []),
        "<h2>Cost per function, a month</h2>",
        f'<p class="legend"><span style="background:{BEFORE_COLOUR}"></span>before'
        f'<span style="background:{AFTER_COLOUR}"></span>after (expected; the line spans I/O-bound to CPU-bound)</p>',
        chart(report),
        "<h2>Totals, a month</h2>",
        _table(["", "Before", "After (expected)", "Savings (expected)", "Savings range"], component_rows, 1, total_row),
        "<h2>Per function, a month</h2>",
        _table(["Function", "Memory", "Log retention", "Before", "After (expected)", "Savings (expected)",
                "Savings range"], function_rows, 3, ["Total", "", "", *total_row[1:]]),
    ]
    for section, entries in notes(report).items():
        if entries:
            body.append(f"<h2>{escape(SECTION_TITLES[section])}</h2>")
            body.append(_table(["Function", "Detail"], [[name, text] for name, text in entries], 2))
    body.append("<h2>Assumptions</h2><ul>" + "".join(f"<li>{escape(text)}</li>"
                                                     for text in report["assumptions"].values()) + "</ul>")
    body.append(f"<p>Price sources are listed in the JSON report; generated {escape(report['generated_at'])}.</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")
