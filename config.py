"""Configuration classes: embedded default, test and production.

Every value can be overridden by an environment variable with the ``NEWSLETTER_`` prefix
(``NEWSLETTER_SMTP_PORT=2525``); see ``newsletter.settings.apply_environment``.
"""

from __future__ import annotations


class Config:
    """The embedded default: SQLite in the instance folder, a local relay on port 8025."""

    ENV_NAME = "embedded"
    TESTING = False
    DEMO = False

    SECRET_KEY: str | None = None  # embedded: generated once and kept in the instance folder
    # Earlier keys, most recent first: they still verify links and sessions, only SECRET_KEY signs
    # (docs/deployment.md, "Rotating the secret key").
    SECRET_KEY_FALLBACKS: tuple[str, ...] = ()
    DATABASE_URL: str | None = None  # None: sqlite:///<instance>/newsletter.sqlite3
    BASE_URL = "http://127.0.0.1:8000"
    TIMEZONE = "Europe/Rome"
    DEFAULT_LOCALE = "it"

    MAIL_FROM = "Area Omogenea Cremasca <newsletter@localhost>"
    MAIL_BOUNCE_DOMAIN: str | None = None  # VERP return path domain; None: the From domain
    MAIL_UNSUBSCRIBE_MAILTO: str | None = None
    SMTP_HOST = "127.0.0.1"
    SMTP_PORT = 8025
    SMTP_SECURITY = "none"  # none | starttls | tls
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_TIMEOUT = 30.0
    SMTP_CA_FILE: str | None = None  # extra trust anchor, e.g. a private relay's certificate
    # Several relays, comma-separated URLs; when set they replace SMTP_HOST/PORT/SECURITY/
    # USERNAME/PASSWORD: smtp://user:password@host:587?security=starttls&weight=2,smtps://host2
    SMTP_RELAYS = ""
    RELAY_BACKOFF_SECONDS = 30.0  # a relay that refuses or answers 421 is set aside this long,
    RELAY_BACKOFF_MAX_SECONDS = 300.0  # doubling while it keeps failing, up to this
    # A digest whose first 500 attempts fail permanently more than this often pauses itself.
    SEND_ERROR_THRESHOLD = 0.2
    SEND_RATE = 0.0  # messages per second, 0 = unlimited
    SEND_CONCURRENCY = 4
    SEND_BATCH_SIZE = 200
    SEND_LEASE_SECONDS = 300
    RETRY_SCHEDULE = "60,300,1800,7200,21600"
    RETRY_GIVE_UP = 259200
    DKIM_SELECTOR: str | None = None
    DKIM_PRIVATE_KEY_FILE: str | None = None

    PRIVACY_NOTICE_VERSION = "2026-11"
    CONFIRM_TOKEN_MAX_AGE = 7 * 24 * 3600
    EXPORT_TOKEN_MAX_AGE = 24 * 3600
    # Seconds a public form's token (newsletter/formguard.py) stays good after the page was shown;
    # a form sent later comes back with everything typed and a fresh token.
    FORM_TOKEN_MAX_AGE = 24 * 3600
    PENDING_TTL_DAYS = 7
    CONFIRMATION_RESEND_WINDOW = 3600  # at most one service mail of a kind per address per window
    SERVICE_MAIL_PER_HOUR = 3  # and at most this many of any kind per address per hour
    RATELIMIT_SUBSCRIBE = "10 per minute;60 per hour"
    RATELIMIT_STORAGE_URI = "memory://"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False

    DAILY_AT = "07:00"
    WEEKLY_AT = "mon 07:00"
    IMMEDIATE_BATCH_MINUTES = 10
    SOURCE_POLL_MINUTES = 15
    DIGEST_MAX_LATENESS_HOURS = 12
    SEND_EMPTY_DIGESTS = False
    FEED_ITEMS = 50
    WEBSUB_HUB_URL: str | None = None
    LOG_JSON = False
    LOG_LEVEL = "INFO"
    # Reverse proxies in front of `newsletter serve` whose X-Forwarded-For/-Proto/-Host to trust
    # (1 behind nginx); 0 trusts none. Per-IP rate limits and HSTS depend on it.
    TRUSTED_PROXIES = 0
    # Request bodies (API JSON, forms) larger than this get a 413; the admin's CSV uploads have
    # their own limit (ADMIN_UPLOAD_MAX_BYTES).
    MAX_CONTENT_LENGTH = 1024 * 1024

    # Settings added by each domain go in its own block below (keeps parallel work mergeable).

    # --- outgoing requests (newsletter/fetch.py) ---
    # Loopback, private, link-local and reserved addresses are refused for every URL the server
    # fetches, unless this is on (tests, the demo) or the address is in FETCH_ALLOWED_NETWORKS.
    FETCH_ALLOW_PRIVATE = False
    # CIDRs let through anyway, e.g. ("10.20.0.5/32",) for an intranet CMS.
    FETCH_ALLOWED_NETWORKS: tuple[str, ...] = ()

    # --- channels beyond e-mail (newsletter/push, newsletter/telegram, delivery/channels.py) ---
    CHANNEL_CONCURRENCY = 8  # push and Telegram requests in flight; one host gets half at most
    CHANNEL_BATCH_SIZE = 200  # rows claimed at a time by the channel sender
    # Europe/Rome wall clock; push notifications that fall inside are held and sent, grouped,
    # when the quiet hours end ("" for none). E-mail and Telegram are never held.
    QUIET_HOURS = "21:00-07:00"
    VAPID_PRIVATE_KEY_FILE: str | None = None  # default: vapid_private_key.pem in the instance
    VAPID_SUBJECT: str | None = None  # mailto: or https URL; required in production
    PUSH_ENDPOINT_HOSTS: tuple[str, ...] = (
        "fcm.googleapis.com",  # Chrome, Edge on Android, Opera
        "android.googleapis.com",
        "updates.push.services.mozilla.com",  # Firefox
        "web.push.apple.com",  # Safari, and iOS home-screen apps
        ".push.apple.com",
        ".notify.windows.com",  # Edge on Windows (wns2-*.notify.windows.com)
    )
    PUSH_INSECURE_ENDPOINTS = False  # http and loopback endpoints: tests and the demo only
    PUSH_TTL = 86_400  # seconds a push service keeps an undelivered notification
    PUSH_TIMEOUT = 10.0  # seconds for one push service's answer
    PUSH_SUBSCRIBE_RATE = "20 per hour"  # per IP address
    TELEGRAM_BOT_TOKEN: str | None = None
    # "topic=@channel,...", "all=@channel" for every article, "comune:<slug>=@channel" for a
    # comune's articles and urgent alerts, "alerts=@channel" for every urgent alert;
    # "@channel:en" posts in English
    TELEGRAM_CHANNELS = ""
    TELEGRAM_API_URL = "https://api.telegram.org"
    TELEGRAM_POST_INTERVAL = 3.0  # seconds between two posts to one channel (20 a minute)
    TELEGRAM_TIMEOUT = 10.0

    # --- subscriptions ---
    SUBSCRIBE_HONEYPOT_FIELD = "website"  # a field people never see; bots fill it in
    PUBLIC_LATEST_ARTICLES = 6  # articles on the home page
    TOPIC_PAGE_ARTICLES = 20  # articles on a topic page (and on a comune's page)
    COMUNI_RECENT_DAYS = 30  # /comuni counts each comune's articles of the last N days

    # --- articles ---
    SOURCE_CONNECT_TIMEOUT = 5.0  # seconds to connect to a feed's server
    SOURCE_READ_TIMEOUT = 20.0  # seconds to wait for its answer
    SOURCE_MAX_BYTES = 10_000_000  # a larger feed (once decompressed) is refused
    SOURCE_MAX_RAW_BYTES = 10_000_000  # ...and so is a larger download (before decompressing)
    SOURCE_DEADLINE = 60.0  # seconds for a whole fetch, redirects and slow servers included
    SOURCE_MAX_REDIRECTS = 5
    API_ARTICLES_MAX_LIMIT = 200  # GET /api/v1/articles?limit= at most

    # --- digests and scheduling ---
    # An article older than this (by publication date) never enters a digest: old imports.
    DIGEST_MAX_ARTICLE_AGE_DAYS = 14
    # Catch-up after downtime: a weekly digest later than this is skipped too (daily: above).
    WEEKLY_DIGEST_MAX_LATENESS_HOURS = 48
    # Immediate batches later than this after downtime are skipped (the news is no longer new).
    IMMEDIATE_MAX_LATENESS_MINUTES = 60

    # --- delivery ---
    DKIM_DOMAIN: str | None = None  # None: the From domain
    SOFT_BOUNCE_LIMIT = 3  # soft bounces (4.x.x DSNs) before an address counts as bounced
    SEND_IDLE_SECONDS = 2.0  # how long an idle sender waits before looking for due rows again
    # At most this many messages sent but not yet recorded as sent: a crash duplicates at most
    # these; larger values let the recorder commit bigger groups (throughput).
    SEND_MAX_UNRECORDED = 64
    # A DSN without a valid VERP token is ignored (anybody can forge one) unless this is on;
    # then it counts only for subscribers sent to within BOUNCE_FALLBACK_DAYS.
    BOUNCE_ADDRESS_FALLBACK = False
    BOUNCE_FALLBACK_DAYS = 7.0
    BOUNCE_HOST = "127.0.0.1"  # where `newsletter bounces serve` listens by default
    BOUNCE_PORT = 2525

    # --- feeds ---
    FEEDS_VERSION_TTL = 1.0  # seconds a worker trusts a feed's version before asking again

    # --- admin and operations ---
    RATELIMIT_LOGIN = "10 per minute;50 per hour"  # per client address, on POST /admin/login
    ADMIN_LOCKOUT_THRESHOLD = 5  # failed logins in a row that lock an account...
    ADMIN_LOCKOUT_SECONDS = 900  # ...for this long
    ADMIN_PASSWORD_MIN_LENGTH = 12
    ADMIN_ARGON2_TIME_COST = 3  # argon2id parameters; stored hashes are upgraded at next login
    ADMIN_ARGON2_MEMORY_KIB = 65536
    ADMIN_ARGON2_PARALLELISM = 4
    ADMIN_PAGE_SIZE = 50
    ADMIN_UPLOAD_MAX_BYTES = 5 * 1024 * 1024  # roster and municipality CSV uploads
    HEALTH_QUEUE_MAX_AGE = 900  # seconds a due delivery may wait before /healthz says degraded

    # --- look (Bootstrap Italia page model), accessibility statement, page feedback ---
    ORGANISATION_NAME = "Consorzio.it"  # runs the service; named in the slim header and footer
    ORGANISATION_URL = "https://www.consorzioit.net"
    CONTACT_EMAIL = "newsletter@localhost"  # footer contacts; accessibility feedback by default
    ACCESSIBILITY_FEEDBACK_EMAIL: str | None = None  # None: CONTACT_EMAIL
    # The statement published through AgID's form; the link shows only when this is set.
    ACCESSIBILITY_STATEMENT_URL: str | None = None
    ACCESSIBILITY_PREPARED_ON = "2026-11-30"  # ISO dates shown in the statement
    ACCESSIBILITY_REVIEWED_ON = "2026-11-30"
    LEGAL_NOTES_UPDATED_ON = "2026-11-30"
    RATELIMIT_FEEDBACK = "20 per hour"  # page ratings per client address

    # --- security: sessions, second factor, metrics, test sends ---
    ADMIN_REQUIRE_TOTP = False  # administrators must sign in with a TOTP code (production: on)
    ADMIN_TOTP_ISSUER = "Newsletter Area Cremasca"  # the name authenticator apps show
    ADMIN_UNLOCK_LINK_MAX_AGE = 3600  # seconds the e-mailed unlock link of a locked account works
    # Bearer token that /metrics requires when set; production answers 404 without it.
    METRICS_TOKEN: str | None = None
    # Web worker processes sharing the rate limits: `newsletter serve` sets it; with bare
    # gunicorn set it (or WEB_CONCURRENCY). memory:// storage with more than one is refused in
    # production and reported by /healthz elsewhere.
    WEB_WORKERS = 0
    # Test sends by editors to addresses outside the team (admin-area accounts), per hour.
    ADMIN_TEST_SENDS_PER_HOUR = 5


class TestConfig(Config):
    """Fast, deterministic, isolated: the test fixtures set DATABASE_URL per run."""

    ENV_NAME = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
    WTF_CSRF_ENABLED = True
    RATELIMIT_ENABLED = True
    RETRY_SCHEDULE = "1,2,3"
    SERVER_NAME: str | None = None
    FETCH_ALLOW_PRIVATE = True  # the tests' servers listen on loopback
    PUSH_INSECURE_ENDPOINTS = True  # the tests' push services listen on loopback, over http
    QUIET_HOURS = ""  # tests that need quiet hours set them


class ProductionConfig(Config):
    """PostgreSQL, real relay, secrets from the environment; refuses to start without a key."""

    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    ADMIN_REQUIRE_TOTP = True  # refused at start when turned off
    PREFERRED_URL_SCHEME = "https"


CONFIGS: dict[str, type[Config]] = {
    "embedded": Config,
    "default": Config,
    "demo": Config,
    "test": TestConfig,
    "production": ProductionConfig,
}
