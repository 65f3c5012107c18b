# LiverSeg — the two commands a user needs:
#   make run    install what is missing, build, open the app
#   make test   run the whole test suite
#   make package  build the Linux desktop bundle dist/LiverSeg.tar.xz
GO      ?= go
BIN     ?= bin/liverseg
export LANG ?= en_US.UTF-8
export LIVERSEG_ORT_LIB ?= $(CURDIR)/third_party/ort/libonnxruntime.so.1

.PHONY: run setup build test bench models package clean

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
	/usr/bin/python3 -m unittest discover -s models/training -p 'test_*.py'

# Retrains the teacher, the GTAN assistant and both students on the real
# cases in ../shared/data/cases and exports them into models/ (resumes from
# models/training/runs/ after an interruption). See models/README.md.
models: setup
	nice -n 10 /usr/bin/python3 models/training/train.py release --threads 1

# The Linux bundle: the fyne CLI (pinned, installed from the Go module proxy
# into bin/tools, not the user's GOPATH) builds the release binary with
# FyneApp.toml's metadata and icon; scripts/package.sh adds the ONNX Runtime
# library and the models beside it. scripts/check-package.sh installs the
# result into a temporary folder and starts it under Xvfb.
FYNE_VERSION := v1.7.4
FYNE := bin/tools/fyne-$(FYNE_VERSION)/fyne

$(FYNE):
	GOBIN=$(CURDIR)/$(dir $(FYNE)) $(GO) install fyne.io/tools/cmd/fyne@$(FYNE_VERSION)

package: setup $(FYNE)
	FYNE=$(FYNE) ./scripts/package.sh

bench: setup build
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin dist
