"""The study's report: figures (:mod:`.figures`), text from the numbers
(:mod:`.sections`), rendering to Markdown and HTML (:mod:`.document`) and the
writer that puts them together (:mod:`.writer`)."""

from mnist_mlp.report.writer import REPORT_HTML, REPORT_MD, write_report

__all__ = ["write_report", "REPORT_MD", "REPORT_HTML"]
