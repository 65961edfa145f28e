"""pytest configuration: the `pipeline` marker tags tests that retrain the whole model
(minutes); the fast unit tests run apart with `-m "not pipeline"`."""


def pytest_configure(config):
    config.addinivalue_line("markers", "pipeline: retrains the full pipeline (slow)")
