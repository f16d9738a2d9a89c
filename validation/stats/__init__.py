"""Pure statistics over counts and arrays; they never read files.

Every public function is re-exported here.
"""

from validation.stats.results import Interval

__all__ = ["Interval"]
