"""The ``upscaler`` console script: one Typer app, one sub-app or command per area."""

from __future__ import annotations

import typer

from cli import (
    compare_cmd,
    doctor_cmd,
    intake_cmd,
    material_cmd,
    models_cmd,
    profiles_cmd,
    queue_cmd,
    service_cmd,
    train_cmd,
    upscale_cmd,
)
from cli.help_format import keep_words_whole
from cli.progress import route_logs_through
from upscaler.logs import configure_logging
from upscaler.settings import get_settings

# Exit status when the database did not answer in time: temporary, worth running again.
EXIT_DATABASE_UNREACHABLE = 75


class UpscalerApp(typer.Typer):
    """The app, with one policy for a database that does not answer: a clear line naming the
    server and the time-outs, exit 75, no traceback."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            import sys

            if "sqlalchemy" not in sys.modules:
                raise
            from db.session import TransientDatabaseError, unreachable

            if not isinstance(exc, TransientDatabaseError):
                raise
            from cli.common import err_console, shown

            err_console.print(f"[red]error:[/] {shown(unreachable(exc))}")
            raise SystemExit(EXIT_DATABASE_UNREACHABLE) from None


keep_words_whole()
app = UpscalerApp(
    name="upscaler",
    help="x4 super-resolution of material images: direct, queued on GPU workers, and training.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Click's plain help, not rich's panels: the panels cut long option names ("--preserve-col…")
    # to fit 80 columns; click wraps the descriptions and never cuts a name a person must type.
    rich_markup_mode=None,
)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    settings = get_settings()
    configure_logging("DEBUG" if verbose else settings.log_level, settings.log_format)
    if settings.log_format == "text":
        route_logs_through()  # on a terminal: log lines above the progress bars, not through them


app.command("upscale")(upscale_cmd.upscale)
app.add_typer(models_cmd.app, name="models")
app.command("submit")(queue_cmd.submit)
app.command("status")(queue_cmd.status)
app.command("retry")(queue_cmd.retry)
app.command("cancel")(queue_cmd.cancel)
app.command("doctor")(doctor_cmd.doctor)
app.command("worker")(service_cmd.worker)
app.command("flower")(service_cmd.flower)
app.add_typer(service_cmd.db_app, name="db")
app.add_typer(train_cmd.app, name="train")
app.add_typer(intake_cmd.watch_app, name="watch")
app.add_typer(intake_cmd.events_app, name="events")
app.command("beat")(intake_cmd.beat)
app.command("compare")(compare_cmd.compare)
app.add_typer(material_cmd.app, name="material")
app.add_typer(profiles_cmd.app, name="profiles")

if __name__ == "__main__":
    app()
