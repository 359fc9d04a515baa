import logging.config

logging.config.dictConfig(
    {
        "version": 1,
        "disable_existing_loggers": False,  # keep weblab_ext's logger, made at its import
        "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
        "root": {"level": "INFO", "handlers": ["stderr"]},
    }
)
