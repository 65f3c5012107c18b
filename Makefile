# LiverSeg — the two commands a user needs:
#   make run    install what is missing, build, open the app
#   make test   run the whole test suite
GO      ?= go
BIN     ?= bin/liverseg
export LANG ?= en_US.UTF-8
export LIVERSEG_ORT_LIB ?= $(CURDIR)/third_party/ort/libonnxruntime.so.1

.PHONY: run setup build test bench models clean

run: setup build
	$(BIN) $(ARGS)

setup:
	./scripts/setup.sh

build:
	$(GO) build -o $(BIN) .

# The whole suite: unit, integration (real data in ../shared/data, real ONNX
# Runtime) and headless UI tests.
test: setup
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m ./...

# Retrains the teacher, the GTAN assistant and both students on the real
# cases in ../shared/data/cases and exports them into models/ (resumes from
# models/training/runs/ after an interruption). See models/README.md.
models: setup
	nice -n 10 /usr/bin/python3 models/training/train.py release

bench: setup build
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
