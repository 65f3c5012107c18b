# LiverSeg — the two commands a user needs:
#   make run    install what the viewer needs, build bin/liverseg, open the app
#   make test   install the test tools, run the whole test suite
#   make install  put bin/liverseg, the ONNX Runtime and the models into
#               $(PREFIX) (default ~/.local; the program is $(PREFIX)/bin/liverseg)
#   make package  build the Linux desktop bundle dist/LiverSeg.tar.xz
#   make models   install the Python training stack and retrain the models
GO      ?= go
BIN     ?= bin/liverseg
export LANG ?= en_US.UTF-8
export LIVERSEG_ORT_LIB ?= $(CURDIR)/third_party/ort/libonnxruntime.so.1

.PHONY: run setup setup-test setup-models build install uninstall test soak bench models package clean pacs-demo

run: setup build
	$(BIN) $(ARGS)

# Each set-up installs only what its targets need (scripts/setup.sh):
# viewing a scan needs no test tools and no training stack.
setup:
	./scripts/setup.sh viewer

setup-test:
	./scripts/setup.sh viewer test

setup-models:
	./scripts/setup.sh training

build:
	$(GO) build -o $(BIN) .

# The whole suite: unit, integration (real data in ../shared/data, real ONNX
# Runtime) and headless UI tests.
test: setup-test
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m ./...
	/usr/bin/python3 -m unittest discover -s models/training -p 'test_*.py'

# The real window under Xvfb: idle CPU, repaint after 90 s idle, the preset
# list (scripts/soak.sh; CI runs it).
soak: setup-test build
	./scripts/soak.sh

# The program with the ONNX Runtime library and the models beside it, where
# it looks for them, as the desktop bundle lays them out; PREFIX/bin/liverseg
# links to it. PREFIX=/usr/local (with sudo) for every user.
PREFIX ?= $(HOME)/.local
install: build
	install -Dm0755 $(BIN) $(DESTDIR)$(PREFIX)/lib/liverseg/liverseg
	install -Dm0644 $(LIVERSEG_ORT_LIB) $(DESTDIR)$(PREFIX)/lib/liverseg/libonnxruntime.so.1
	install -d $(DESTDIR)$(PREFIX)/lib/liverseg/models $(DESTDIR)$(PREFIX)/bin
	install -m0644 models/*.onnx models/*.json $(DESTDIR)$(PREFIX)/lib/liverseg/models/
	ln -sfn ../lib/liverseg/liverseg $(DESTDIR)$(PREFIX)/bin/liverseg
	@echo "installed: $(DESTDIR)$(PREFIX)/bin/liverseg"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/liverseg
	rm -rf $(DESTDIR)$(PREFIX)/lib/liverseg

# Retrains the teacher, the GTAN assistant and both students on the real
# cases in ../shared/data/cases and exports them into models/ (resumes from
# models/training/runs/ after an interruption). See models/README.md.
models: setup-models
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

# A local Orthanc DICOM archive (DICOMweb) holding the demo phantom and the
# shared cases, to try File → Find on PACS… and `liverseg pacs`; Ctrl-C
# stops it and deletes its storage.
pacs-demo:
	LIVERSEG_SETUP_EXTRA="orthanc orthanc-dicomweb" ./scripts/setup.sh
	$(GO) run ./scripts/pacsdemo

bench: setup build
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin dist
