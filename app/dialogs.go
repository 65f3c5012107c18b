package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"
)

// formDialog builds the app's form dialogs (export, report, settings): the
// form, a note under it, then Cancel and the primary action at the bottom
// right. Unlike Fyne's form dialog it stays open when the primary action
// finds a problem (the caller hides it when done). Cancel hides it and calls
// closed, which forgets the dialog's state.
func (u *UI) formDialog(title string, form *widget.Form, note fyne.CanvasObject, cancel, primary *widget.Button, size fyne.Size, closed func()) *dialog.CustomDialog {
	primary.Importance = widget.HighImportance
	d := dialog.NewCustomWithoutButtons(title, container.NewVBox(form, note,
		container.NewHBox(layout.NewSpacer(), cancel, primary)), u.win)
	d.Resize(size)
	cancel.OnTapped = func() { d.Hide(); closed() }
	return d
}
