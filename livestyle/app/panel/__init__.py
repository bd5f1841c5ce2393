"""The control panel: a local web page and HTTP API that steer a live session.

``livestyle run --live --panel`` (or ``--vcam --panel``) serves it on ``127.0.0.1``
(:mod:`.server`); the routes (:mod:`.api`) talk to the session through the
:class:`~livestyle.app.panel.control.PanelControl` protocol; :mod:`.security` is the door
(token, Host, Origin, upload limits); :mod:`.preview` the preview sink; the page is plain
HTML/CSS/JS in ``static/`` (no build step, works offline). Needs ``pip install 'livestyle[panel]'``.
"""
