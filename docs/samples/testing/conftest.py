import pytest
from mylab import create_app


@pytest.fixture
def weblab_app(weblab_config):
    return create_app(weblab_config)
