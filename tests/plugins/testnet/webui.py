"""The test network's web UI: mounted at /bots/testnet/, guarded like a real bot's."""
import bottle

import frontend


def make_app(settings, sessions, notify_main):
    app = bottle.Bottle()

    @app.get("/")
    def index():
        return "testnet web UI\n"

    @app.post("/<city>/disconnect")
    def disconnect(city):
        frontend.check_csrf()
        own = frontend.require_city(city)
        notify_main()
        return f"disconnected {own.name}\n"

    return app
