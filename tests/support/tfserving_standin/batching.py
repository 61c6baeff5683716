"""TF Serving's batching session rules (--enable_batching): what it refuses in a Run().

TF Serving wraps every signature's session in a BatchingSession (bundle_factory_util.cc passes
its queue creator as the default, so even a Run() that matches no declared signature is batched):
every Predict and every warm-up request goes through these checks; GetModelMetadata runs no
session. The stand-in does not merge concurrent requests into one batch: it checks each request
as the batching session checks the tasks it would merge, which is where a client can go wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import numpy as np

from tfserving_standin.errors import ServingError

# TF's BasicBatchScheduler/SharedBatchScheduler default input_batch_size_limit, used when
# --enable_batching is given without --batching_parameters_file.
DEFAULT_MAX_BATCH_SIZE = 1000


@dataclass(frozen=True)
class Batching:
    """The batching parameters the checks need; max_execution_batch_size is None unless
    enable_large_batch_splitting is on."""

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_execution_batch_size: int | None = None

    @classmethod
    def from_parameters(cls, parameters) -> "Batching":
        """From a BatchingParameters message (configs.BATCHING_PARAMETERS), as bundle_factory_util.h's
        GetQueueOptions reads it."""
        limit = parameters.max_batch_size.value if parameters.HasField("max_batch_size") else DEFAULT_MAX_BATCH_SIZE
        if not parameters.enable_large_batch_splitting.value:
            return cls(limit)
        # Without max_execution_batch_size, max_batch_size's value (0 when that is unset too).
        execution = (parameters.max_execution_batch_size if parameters.HasField("max_execution_batch_size")
                     else parameters.max_batch_size).value
        return cls(limit, execution)

    def check_queue(self) -> None:
        """SharedBatchScheduler::AddQueue's check, made when a version's session is wrapped for
        batching: a failure fails that version's load."""
        if self.max_execution_batch_size is not None and self.max_batch_size < self.max_execution_batch_size:
            # errors::InvalidArgument concatenates its arguments as they are: the bool as 1, no spaces.
            raise _invalid("When enable_large_batch_splitting is true, input_batch_size_limit must be greater "
                           f"than or equal to max_execution_batch_size.1{self.max_batch_size}"
                           f"{self.max_execution_batch_size}")

    def check_inputs(self, shapes: list[list[int]]) -> int:
        """The batch size of a Run() whose input tensors have `shapes`, or TF Serving's error."""
        # batching_util's ComputeTensorBatchSize, called by BatchingSession::ComputeInputSize.
        if not shapes:
            raise _invalid("Batching Run() must have at least one input tensor")
        if any(len(shape) == 0 for shape in shapes):
            raise _invalid("Batching Run() input tensors must have at least one dimension")
        if len({shape[0] for shape in shapes}) > 1:
            raise _invalid("Batching Run() input tensors must have equal 0th-dimension size")
        size = shapes[0][0]
        if size > self.max_batch_size:  # shared_batch_scheduler.cc, when the task is scheduled
            raise _invalid(f"Task size {size} is larger than maximum input batch size {self.max_batch_size}")
        return size

    def check_outputs(self, outputs: dict[str, np.ndarray], size: int) -> None:
        """Raise TF Serving's error if an output cannot be split back into the batch's tasks."""
        # BatchingSession::SplitOutputTensors.
        for value in outputs.values():
            if np.ndim(value) == 0:
                raise ServingError(grpc.StatusCode.FAILED_PRECONDITION, "Batched output tensor has 0 dimensions")
            if np.shape(value)[0] != size:
                raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                                   "Batched output tensor's 0th dimension does not equal the sum of the 0th "
                                   "dimension sizes of the input tensors")


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)
