# Rich output as the sandbox's clients read it, set up at kernel start without importing any
# plotting library (kernel start must not grow; each is imported when user code imports it).
#
# plotly: in a kernel its default renderer is "plotly_mimetype+notebook", whose first figure
# inlines all of plotly.js (Debian ships it unminified: 8.6 MB) for a browser page that keeps it
# loaded, which an API client is not; "notebook_connected" would load it from a CDN, which is not
# reachable offline. So figures are sent as their JSON (application/vnd.plotly.v1+json, what
# JupyterLab, VS Code and nteract render) and, added here, as text/html: plotly's own <div> and
# Plotly.newPlot() fragment without the library, for a page that loads plotly.js itself.
# fig.write_html("chart.html") still writes a standalone page, plotly.js included, to the working
# dir. A context's env can choose another renderer (PLOTLY_RENDERER), as can
# plotly.io.renderers.default.
import os
import sys

PLOTLY_MIME = "application/vnd.plotly.v1+json"
# The HTML repeats the figure's JSON: past this, it would crowd the JSON itself out of the output
# budget (SANDBOX_MAX_OUTPUT_CHARS, 1 MiB by default), so it is left out with a note.
MAX_HTML_CHARS = 256 * 1024


def configure():
    """In the kernel (or run), whose environment the template's import did not see."""
    os.environ.setdefault("PLOTLY_RENDERER", "plotly_mimetype")


def with_html(data):
    """The bundle, with text/html for a plotly figure that has none."""
    if not isinstance(data, dict) or PLOTLY_MIME not in data or "text/html" in data:
        return data
    figure = data[PLOTLY_MIME]
    plotly_io = sys.modules.get("plotly.io")
    if plotly_io is None or not isinstance(figure, dict):
        return data
    try:
        html = plotly_io.to_html(
            figure, config=figure.get("config"), include_plotlyjs=False, full_html=False, validate=False
        )
    except Exception:  # a figure plotly cannot write: its JSON still goes out
        return data
    if len(html) > MAX_HTML_CHARS:
        note = "[text/html of %d characters left out: over %d; the figure is in %s]" % (
            len(html),
            MAX_HTML_CHARS,
            PLOTLY_MIME,
        )
        return {**data, "text/plain": note}
    return {**data, "text/html": html}
