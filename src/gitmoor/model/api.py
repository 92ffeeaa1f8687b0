"""gitmoor's API group and version: what its resources' apiVersion says.

Apart from the resource models (`model.resources`, pydantic), so that code that only names the
group, such as the CLI's cluster commands, does not build the models to do so.
"""

from __future__ import annotations

from typing import Literal

GROUP = "gitmoor.io"
VERSION = "v1alpha1"
API_VERSION: Literal["gitmoor.io/v1alpha1"] = "gitmoor.io/v1alpha1"
