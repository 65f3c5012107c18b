# LiverSeg for Linux (made by `make package` from scripts/bundle.mk; it
# replaces the Makefile that `fyne package` writes, which would install the
# binary alone, without its runtime library and models).
#
#   make user-install      into ~/.local (no root needed), make user-uninstall
#   sudo make install      into $(PREFIX), make uninstall
#   make install PREFIX=/opt/liverseg DESTDIR=/tmp/stage   (any folder)
#
# The program lives in $(PREFIX)/lib/liverseg with libonnxruntime.so.1 and
# models/ beside it, where it looks for them; $(PREFIX)/bin/liverseg is a
# relative symlink to it.

LOCAL != test -d $(DESTDIR)/usr/local && echo -n "/local" || echo -n ""
PREFIX ?= /usr$(LOCAL)
ICONDIR ?= share/pixmaps

SRC := @SRC@
AppID := io.github.liverseg.liverseg
Exec := liverseg
APPDIR = $(DESTDIR)$(PREFIX)/lib/liverseg

.PHONY: default install uninstall user-install user-uninstall

default:
	# User install (no root):  make user-install   /  make user-uninstall
	# System install:          sudo make install   /  sudo make uninstall
	# Elsewhere:               make install PREFIX=/opt/liverseg

install:
	install -Dm00755 $(SRC)/lib/liverseg/$(Exec) $(APPDIR)/$(Exec)
	install -Dm00644 $(SRC)/lib/liverseg/libonnxruntime.so.1 $(APPDIR)/libonnxruntime.so.1
	install -d $(APPDIR)/models
	install -m00644 $(SRC)/lib/liverseg/models/*.onnx $(SRC)/lib/liverseg/models/*.json $(APPDIR)/models/
	install -d $(DESTDIR)$(PREFIX)/bin
	ln -sfn ../lib/liverseg/$(Exec) $(DESTDIR)$(PREFIX)/bin/$(Exec)
	install -Dm00644 $(SRC)/share/applications/$(AppID).desktop $(DESTDIR)$(PREFIX)/share/applications/$(AppID).desktop
	install -Dm00644 $(SRC)/share/pixmaps/$(AppID).png $(DESTDIR)$(PREFIX)/$(ICONDIR)/$(AppID).png

uninstall:
	-rm -f $(DESTDIR)$(PREFIX)/bin/$(Exec)
	-rm -rf $(APPDIR)
	-rm -f $(DESTDIR)$(PREFIX)/share/applications/$(AppID).desktop
	-rm -f $(DESTDIR)$(PREFIX)/$(ICONDIR)/$(AppID).png

# ~/.local/bin is not on every desktop's PATH, so the menu entry names the
# program by its full path.
user-install:
	$(MAKE) install PREFIX=$(HOME)/.local ICONDIR=share/icons
	sed -i -e "s,^Exec=$(Exec),Exec=$(DESTDIR)$(HOME)/.local/bin/$(Exec),g" $(DESTDIR)$(HOME)/.local/share/applications/$(AppID).desktop

user-uninstall:
	$(MAKE) uninstall PREFIX=$(HOME)/.local ICONDIR=share/icons
