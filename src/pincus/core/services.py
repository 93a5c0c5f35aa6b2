"""All services of one daemon, wired together."""

from __future__ import annotations

from dataclasses import dataclass

from pincus.core.images import Images
from pincus.core.instances import Instances
from pincus.core.lifecycle import Lifecycle
from pincus.core.pools import Pools
from pincus.core.snapshots import Snapshots
from pincus.core.state import State


@dataclass
class Services:
    """The daemon's services over one State."""

    st: State
    images: Images
    instances: Instances
    lifecycle: Lifecycle
    snapshots: Snapshots
    pools: Pools

    @classmethod
    def build(cls, st: State) -> Services:
        """Wire the services over a State."""
        images = Images(st)
        instances = Instances(st, images)
        lifecycle = Lifecycle(st, instances)
        snapshots = Snapshots(st, instances, lifecycle)
        lifecycle.after_start.append(snapshots.startup_snapshot)
        return cls(st, images, instances, lifecycle, snapshots, Pools(st))
