"""Handler modules; each exports `handlers() -> list[BaseHandler]`. Registration order is in bot/app.py."""
