# The two commands of the README. Both install what is missing first.
PY := .venv/bin/python
BRTRACE := .venv/bin/brtrace

.PHONY: setup demo lint test test-unit test-kernel vmtest vmtest2 bench samples clean proto image

setup:
	@bash scripts/setup.sh

demo: setup
	$(BRTRACE) lab up flannel
	$(BRTRACE) ping 10.244.1.3 --from pod-a -c 3
	@echo "demo: the flannel lab stays up to explore (brt-* namespaces); '$(BRTRACE) lab down' removes it"

# ruff (pyflakes, pycodestyle, bugbear, import order) and strict mypy over the
# whole tree; the configuration of both is in pyproject.toml.
lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

test: setup lint
	$(PY) -m pytest -q -p no:cacheprovider
	$(MAKE) vmtest
	$(MAKE) vmtest2

# The kernel tests again inside a QEMU VM on Debian's stock kernel, where the
# kprobe hooks are live (this machine has none): see vm/run.sh.
vmtest: setup
	@bash vm/run.sh

# Two real kernels: the flannel lab split over two QEMU VMs joined by a socket
# link, one agent in each, merged by this host's brtrace (tests/vm2/).
# timeout: the VMs are killed by the test on failure; this bounds a hung run.
vmtest2: setup
	BRTRACE_VM2=1 timeout -k 10 1200 $(PY) -m pytest -q -p no:cacheprovider tests/vm2

test-unit: setup
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

# The tests that need root, network namespaces and eBPF on the running kernel.
test-kernel: setup
	$(PY) -m pytest -q -p no:cacheprovider tests/kernel

# The container image brtrace:local (deploy/agent.yaml runs it): an mmdebstrap
# rootfs cached by recipe hash plus this tree, imported where a Docker daemon
# answers (else the tarball's path and the import command are printed).
image: setup
	@bash scripts/build-image.sh

bench: setup
	$(PY) bench/run.py

samples: setup
	$(PY) scripts/make_samples.py

clean:
	-$(BRTRACE) lab down

# The agent's gRPC stubs (tracer/agent/pb/, committed) from proto/brtrace/agent.proto.
proto:
	$(PY) -m grpc_tools.protoc -Iproto --python_out=tracer/agent/pb --pyi_out=tracer/agent/pb \
		--grpc_python_out=tracer/agent/pb proto/brtrace/agent.proto
	sed -i 's/^from brtrace import agent_pb2/from tracer.agent.pb.brtrace import agent_pb2/' \
		tracer/agent/pb/brtrace/agent_pb2_grpc.py
