package app

// This file is the PACS feature's window side (package pacs does the
// DICOMweb work): File → PACS servers… (add, edit, remove, Test, the
// cache), File → Find on PACS… (a studies/series search whose Open
// retrieves the series with progress and Cancel, then opens it exactly as
// a folder is opened) and File → Send to PACS… (STOW-RS of a segmentation
// as DICOM SEG, and optionally the views as a Secondary Capture, into the
// open study, with the archive's answer). All
// network work runs on goroutines; widgets change only through u.do.

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/liverseg/liverseg/dicomio"
	"github.com/liverseg/liverseg/dicomio/dicomseg"
	"github.com/liverseg/liverseg/internal/task"
	"github.com/liverseg/liverseg/pacs"
)

// pacsController holds the PACS dialogs' state.
type pacsController struct {
	u       *UI
	servers *pacs.ServerList
	secrets pacs.Secrets
	cache   *pacs.Cache
	initErr error
	// origin is the server the open study was retrieved from.
	originServer, originStudy string

	srv  serversDialog
	find findDialog
	send sendDialog

	// Test hooks, called on the Fyne goroutine.
	onTest   func(err error)
	onSearch func(err error)
	onSeries func(err error)
	onSend   func(res *pacs.StoreResult, err error)
	// onRetrieved is called on the retrieval's goroutine when Retrieve
	// returns (also after a Cancel, whose result the UI drops).
	onRetrieved func(err error)
}

// pacsCtl returns the controller, creating it with the user's saved
// servers, keyring and cache on first use.
func (u *UI) pacsCtl() *pacsController {
	if u.pacs == nil {
		p := &pacsController{u: u}
		var err error
		if p.servers, err = pacs.DefaultServerList(); err == nil {
			if p.secrets, err = pacs.DefaultSecrets(); err == nil {
				p.cache, err = pacs.DefaultCache()
			}
		}
		p.initErr = err
		u.pacs = p
	}
	return u.pacs
}

func (p *pacsController) ready() bool {
	if p.initErr != nil {
		p.u.showPACSError(p.initErr)
		return false
	}
	return true
}

func (u *UI) showPACSError(err error) {
	u.setStatus("PACS: " + strings.ReplaceAll(err.Error(), "\n", " "))
	dialog.NewError(err, u.win).Show()
}

// client connects to the saved server name with its secret.
func (p *pacsController) client(name string) (*pacs.Client, error) {
	s, ok := p.servers.Find(name)
	if !ok {
		return nil, fmt.Errorf("no saved PACS server named %q", name)
	}
	secret := ""
	if s.Auth == pacs.AuthBasic || s.Auth == pacs.AuthBearer {
		var err error
		if secret, err = p.secrets.Get(name); err != nil {
			return nil, fmt.Errorf("PACS %q: read its password from %s: %v", name, p.secrets.Where(), err)
		}
	}
	return pacs.NewClient(s, secret)
}

func (p *pacsController) serverNames() []string {
	var out []string
	for _, s := range p.servers.Servers {
		out = append(out, s.Name)
	}
	return out
}

// ---------------------------------------------------------------- servers

type serversDialog struct {
	dlg                                           dialog.Dialog
	list                                          *widget.List
	editing                                       string // name of the server in the form; "" for a new one
	name, url, user, secret, ca, timeout          *widget.Entry
	auth                                          *widget.Select
	status, cacheInfo                             *widget.Label
	saveBtn, newBtn, removeBtn, testBtn, clearBtn *widget.Button
}

var authLabels = []string{"None", "Basic (user + password)", "Bearer token"}
var authKinds = []string{pacs.AuthNone, pacs.AuthBasic, pacs.AuthBearer}

// ShowPACSServers opens File → PACS servers….
func (u *UI) ShowPACSServers() {
	p := u.pacsCtl()
	if !p.ready() {
		return
	}
	d := &p.srv
	d.name, d.url, d.user, d.ca, d.timeout = widget.NewEntry(), widget.NewEntry(), widget.NewEntry(), widget.NewEntry(), widget.NewEntry()
	d.secret = widget.NewPasswordEntry()
	d.url.SetPlaceHolder("https://pacs.example.org/dicom-web")
	d.ca.SetPlaceHolder("optional PEM file of your hospital's CA")
	d.timeout.SetPlaceHolder("30")
	d.secret.SetPlaceHolder("kept in " + p.secrets.Where())
	d.auth = widget.NewSelect(authLabels, func(string) { p.authChanged() })
	d.status = widget.NewLabel("")
	d.status.Wrapping = fyne.TextWrapWord
	d.list = widget.NewList(func() int { return len(p.servers.Servers) },
		func() fyne.CanvasObject { return widget.NewLabel("") },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			s := p.servers.Servers[id]
			o.(*widget.Label).SetText(s.Name)
		})
	d.list.OnSelected = func(id widget.ListItemID) { p.editServer(p.servers.Servers[id]) }
	d.newBtn = widget.NewButton("New", func() { d.list.UnselectAll(); p.editServer(pacs.Server{Auth: pacs.AuthNone}) })
	d.removeBtn = widget.NewButton("Remove", p.removeServer)
	d.saveBtn = widget.NewButton("Save", p.saveServer)
	d.saveBtn.Importance = widget.HighImportance
	d.testBtn = widget.NewButton("Test", p.testServer)
	d.cacheInfo = widget.NewLabel("")
	d.clearBtn = widget.NewButton("Clear cache", p.clearCache)
	form := widget.NewForm(
		widget.NewFormItem("Name", d.name),
		widget.NewFormItem("DICOMweb URL", d.url),
		widget.NewFormItem("Authentication", d.auth),
		widget.NewFormItem("User", d.user),
		widget.NewFormItem("Password / token", d.secret),
		widget.NewFormItem("CA file", d.ca),
		widget.NewFormItem("Timeout (s)", d.timeout),
	)
	note := widget.NewLabel("Passwords and tokens are kept in " + p.secrets.Where() + ", never in the preferences. TLS certificates are always verified.")
	note.Wrapping = fyne.TextWrapWord
	right := container.NewVBox(form, container.NewHBox(d.testBtn, layout.NewSpacer(), d.removeBtn, d.saveBtn), d.status,
		widget.NewSeparator(), note, container.NewHBox(d.cacheInfo, layout.NewSpacer(), d.clearBtn))
	left := container.NewBorder(nil, d.newBtn, nil, nil, d.list)
	split := container.NewHSplit(left, right)
	split.Offset = 0.28
	d.dlg = dialog.NewCustom("PACS servers", "Close", split, u.win)
	d.dlg.SetOnClosed(func() { p.srv = serversDialog{} })
	d.dlg.Resize(fyne.NewSize(900, 560))
	if len(p.servers.Servers) > 0 {
		d.list.Select(0)
	} else {
		p.editServer(pacs.Server{Auth: pacs.AuthNone})
	}
	p.showCacheInfo()
	d.dlg.Show()
}

func (p *pacsController) editServer(s pacs.Server) {
	d := &p.srv
	d.editing = s.Name
	d.name.SetText(s.Name)
	d.url.SetText(s.URL)
	d.user.SetText(s.User)
	d.ca.SetText(s.CAFile)
	d.timeout.SetText("")
	if s.TimeoutSeconds > 0 {
		d.timeout.SetText(strconv.Itoa(s.TimeoutSeconds))
	}
	d.secret.SetText("")
	for i, k := range authKinds {
		if k == s.Auth || (s.Auth == "" && i == 0) {
			d.auth.SetSelectedIndex(i)
		}
	}
	if s.Name != "" && s.Auth != pacs.AuthNone {
		if sec, err := p.secrets.Get(s.Name); err == nil && sec != "" {
			d.secret.SetPlaceHolder("saved (type to replace)")
		} else {
			d.secret.SetPlaceHolder("none saved")
		}
	}
	d.removeBtn.Disable()
	if s.Name != "" {
		d.removeBtn.Enable()
	}
	d.status.SetText("")
	p.authChanged()
}

func (p *pacsController) authChanged() {
	d := &p.srv
	if d.user == nil {
		return
	}
	switch authKinds[max(d.auth.SelectedIndex(), 0)] {
	case pacs.AuthNone:
		d.user.Disable()
		d.secret.Disable()
	case pacs.AuthBasic:
		d.user.Enable()
		d.secret.Enable()
	case pacs.AuthBearer:
		d.user.Disable()
		d.secret.Enable()
	}
}

// formServer is the server the form describes.
func (p *pacsController) formServer() (pacs.Server, error) {
	d := &p.srv
	s := pacs.Server{Name: strings.TrimSpace(d.name.Text), URL: strings.TrimSpace(d.url.Text),
		Auth: authKinds[max(d.auth.SelectedIndex(), 0)], CAFile: strings.TrimSpace(d.ca.Text)}
	if s.Auth == pacs.AuthBasic {
		s.User = strings.TrimSpace(d.user.Text)
	}
	if t := strings.TrimSpace(d.timeout.Text); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 600 {
			return s, errors.New("the timeout must be 1…600 seconds")
		}
		s.TimeoutSeconds = n
	}
	if s.Name == "" {
		return s, errors.New("the server needs a name")
	}
	return s, s.Validate()
}

// formSecret is the typed secret, else the saved one.
func (p *pacsController) formSecret(name string) string {
	if t := p.srv.secret.Text; t != "" {
		return t
	}
	if p.srv.editing == "" || p.srv.editing != name {
		return ""
	}
	s, _ := p.secrets.Get(name)
	return s
}

func (p *pacsController) saveServer() {
	d := &p.srv
	s, err := p.formServer()
	if err != nil {
		d.status.SetText("Not saved: " + err.Error())
		return
	}
	secret := p.formSecret(s.Name)
	if err := p.servers.Put(d.editing, s); err != nil {
		d.status.SetText("Not saved: " + err.Error())
		return
	}
	msg := "Saved " + s.Name + "."
	if s.Auth == pacs.AuthNone {
		p.secrets.Delete(s.Name)
	} else if secret != "" {
		if err := p.secrets.Set(s.Name, secret); err != nil {
			msg = "Saved " + s.Name + ", but its password could not be stored in " + p.secrets.Where() + ": " + err.Error()
		} else {
			msg += " Its " + map[bool]string{true: "token", false: "password"}[s.Auth == pacs.AuthBearer] + " is in " + p.secrets.Where() + "."
		}
	}
	if d.editing != "" && d.editing != s.Name {
		if old, err := p.secrets.Get(d.editing); err == nil && old != "" && secret == "" {
			p.secrets.Set(s.Name, old)
		}
		p.secrets.Delete(d.editing)
	}
	d.editing = s.Name
	d.secret.SetText("")
	d.list.Refresh()
	for i, x := range p.servers.Servers {
		if x.Name == s.Name {
			d.list.Select(i)
		}
	}
	d.status.SetText(msg)
	p.u.setStatus(msg)
}

func (p *pacsController) removeServer() {
	d := &p.srv
	name := d.editing
	if name == "" {
		return
	}
	dialog.NewConfirm("Remove server", "Remove "+name+" and its saved password?", func(ok bool) {
		if !ok {
			return
		}
		if err := p.servers.Remove(name); err != nil {
			d.status.SetText(err.Error())
			return
		}
		p.secrets.Delete(name)
		d.list.UnselectAll()
		d.list.Refresh()
		p.editServer(pacs.Server{Auth: pacs.AuthNone})
		d.status.SetText("Removed " + name + ".")
	}, p.u.win).Show()
}

// testServer is C-ECHO's counterpart: one cheap QIDO query with the
// form's settings (saved or not).
func (p *pacsController) testServer() {
	d := &p.srv
	s, err := p.formServer()
	if err == nil {
		var c *pacs.Client
		if c, err = pacs.NewClient(s, p.formSecret(s.Name)); err == nil {
			d.status.SetText("Testing " + s.Label() + "…")
			d.testBtn.Disable()
			t0 := time.Now()
			task.Go(p.u.do, func(t *task.Task) (struct{}, error) {
				ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
				defer cancel()
				defer c.Close()
				return struct{}{}, c.Echo(ctx)
			}, func(_ struct{}, err error) {
				if d.testBtn == nil {
					return // the dialog was closed
				}
				d.testBtn.Enable()
				if err != nil {
					d.status.SetText("✗ " + err.Error())
				} else {
					d.status.SetText(fmt.Sprintf("✓ %s answered a DICOMweb query in %.0f ms.", s.Label(), msSince(t0)))
				}
				if p.onTest != nil {
					p.onTest(err)
				}
			})
			return
		}
	}
	d.status.SetText("✗ " + err.Error())
	if p.onTest != nil {
		p.onTest(err)
	}
}

func (p *pacsController) showCacheInfo() {
	d := &p.srv
	n, _ := p.cache.Size()
	d.cacheInfo.SetText(fmt.Sprintf("Retrieved series cache: %.1f MB of %.0f GiB (%s)", float64(n)/1e6, float64(p.cache.Limit)/(1<<30), p.cache.Root))
}

func (p *pacsController) clearCache() {
	dialog.NewConfirm("Clear the cache", "Delete every series retrieved from a PACS? They will be retrieved again when opened.", func(ok bool) {
		if !ok {
			return
		}
		if err := p.cache.Clear(); err != nil {
			p.srv.status.SetText(err.Error())
		}
		p.showCacheInfo()
	}, p.u.win).Show()
}

// ---------------------------------------------------------------- find

type findDialog struct {
	dlg                                      dialog.Dialog
	server                                   *widget.Select
	name, pid, from, to, modality, accession *widget.Entry
	searchBtn, moreBtn, openBtn              *widget.Button
	status                                   *widget.Label
	studyList, seriesList                    *widget.List
	studyHeader                              *fyne.Container
	studies                                  []pacs.Study
	series                                   []pacs.Series // shown (localizers left out)
	studySel, seriesSel                      int
	sortCol                                  int
	sortDesc                                 bool
	query                                    pacs.StudyQuery
	lookup                                   task.Slot              // a search or a series listing: the newer one wins
	thumbs                                   task.Slot              // the listed series' thumbnails, from the archive
	thumbImg                                 map[string]image.Image // by SeriesInstanceUID
}

const findPage = 50

var studyCols = []string{"Patient", "Patient ID", "Date", "Description", "Accession", "Modalities", "Series", "Images"}
var studyWidths = []float32{200, 110, 100, 230, 110, 100, 60, 70}

// The series rows start with a thumbnail that the archive renders (as the
// series picker's, and as Weasis and OHIF show them).
var seriesCols = []string{"", "#", "Series description", "Modality", "Slices", "Thickness", "Matrix"}
var seriesWidths = []float32{pickThumb + 8, 50, 340, 80, 70, 90, 100}

// ShowPACSFind opens File → Find on PACS….
func (u *UI) ShowPACSFind() {
	p := u.pacsCtl()
	if !p.ready() {
		return
	}
	if len(p.servers.Servers) == 0 {
		dialog.NewInformation("No PACS server", "Add a DICOMweb server first (File → PACS servers…).", u.win).Show()
		return
	}
	f := &p.find
	*f = findDialog{studySel: -1, seriesSel: -1}
	f.server = widget.NewSelect(p.serverNames(), nil)
	f.server.SetSelectedIndex(0)
	if p.originServer != "" {
		f.server.SetSelected(p.originServer)
	}
	f.name, f.pid, f.from, f.to, f.modality, f.accession = widget.NewEntry(), widget.NewEntry(), widget.NewEntry(), widget.NewEntry(), widget.NewEntry(), widget.NewEntry()
	f.name.SetPlaceHolder("DOE^J*  (prefix; * ? wildcards)")
	f.from.SetPlaceHolder("from YYYY-MM-DD")
	f.to.SetPlaceHolder("to YYYY-MM-DD")
	f.modality.SetText("CT")
	f.searchBtn = widget.NewButton("Search", func() { p.search(false) })
	f.searchBtn.Importance = widget.HighImportance
	f.moreBtn = widget.NewButton("More results", func() { p.search(true) })
	f.moreBtn.Disable()
	f.openBtn = widget.NewButton("Open series", p.openSelected)
	f.openBtn.Importance = widget.HighImportance
	f.openBtn.Disable()
	f.status = widget.NewLabel("Search by patient, ID, date, modality or accession number.")
	f.status.Wrapping = fyne.TextWrapWord
	for _, e := range []*widget.Entry{f.name, f.pid, f.from, f.to, f.modality, f.accession} {
		e.OnSubmitted = func(string) { p.search(false) }
	}
	fields := container.NewGridWithColumns(2,
		container.New(layout.NewFormLayout(),
			widget.NewLabel("Server"), f.server,
			widget.NewLabel("Patient name"), f.name,
			widget.NewLabel("Patient ID"), f.pid),
		container.New(layout.NewFormLayout(),
			widget.NewLabel("Study date"), container.NewGridWithColumns(2, f.from, f.to),
			widget.NewLabel("Modality"), f.modality,
			widget.NewLabel("Accession"), f.accession))

	f.studyHeader = container.New(columns(studyWidths))
	for i, c := range studyCols {
		b := widget.NewButton(c, func() { p.sortBy(i) })
		b.Importance = widget.LowImportance
		b.Alignment = widget.ButtonAlignLeading
		f.studyHeader.Add(b)
	}
	f.studyList = widget.NewList(func() int { return len(f.studies) },
		func() fyne.CanvasObject { return labelRow(studyWidths) },
		func(id widget.ListItemID, o fyne.CanvasObject) { setRow(o, studyCells(f.studies[id])) })
	f.studyList.OnSelected = func(id widget.ListItemID) { p.studyChosen(id) }
	seriesHeader := labelRow(seriesWidths)
	setRow(seriesHeader, seriesCols)
	for _, o := range seriesHeader.Objects {
		o.(*widget.Label).TextStyle.Bold = true
	}
	f.thumbImg = map[string]image.Image{}
	f.seriesList = widget.NewList(func() int { return len(f.series) },
		func() fyne.CanvasObject { return thumbRow(seriesWidths) },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			setThumbRow(o, f.thumbImg[f.series[id].SeriesInstanceUID], seriesCells(f.series[id]))
		})
	f.seriesList.OnSelected = func(id widget.ListItemID) { f.seriesSel = id; f.openBtn.Enable() }

	studies := container.NewBorder(f.studyHeader, nil, nil, nil, f.studyList)
	series := container.NewBorder(container.NewVBox(widget.NewLabelWithStyle("Series of the selected study", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), seriesHeader), nil, nil, nil, f.seriesList)
	split := container.NewVSplit(studies, series)
	split.Offset = 0.6
	top := container.NewVBox(fields, container.NewHBox(f.searchBtn, f.moreBtn))
	bottom := container.NewBorder(nil, nil, nil, f.openBtn, f.status)
	f.dlg = dialog.NewCustom("Find on PACS", "Close", container.NewBorder(top, bottom, nil, nil, split), u.win)
	f.dlg.SetOnClosed(func() { f.lookup.Cancel(); f.thumbs.Cancel() })
	f.dlg.Resize(fyne.NewSize(1120, 760))
	f.dlg.Show()
}

func labelRow(widths []float32) *fyne.Container {
	objs := make([]fyne.CanvasObject, len(widths))
	for i := range objs {
		l := widget.NewLabel("")
		l.Truncation = fyne.TextTruncateEllipsis
		objs[i] = l
	}
	return container.New(columns(widths), objs...)
}

// thumbRow is labelRow with a thumbnail in its first cell.
func thumbRow(widths []float32) *fyne.Container {
	row := labelRow(widths)
	img := canvas.NewImageFromImage(nil)
	img.FillMode = canvas.ImageFillContain
	img.SetMinSize(fyne.NewSize(pickThumb, pickThumb))
	row.Objects[0] = img
	return row
}

// setThumbRow shows th (nil: none yet) and the cells after it.
func setThumbRow(o fyne.CanvasObject, th image.Image, cells []string) {
	objs := o.(*fyne.Container).Objects
	if img := objs[0].(*canvas.Image); img.Image != th {
		img.Image = th
		img.Refresh()
	}
	for i, c := range cells {
		objs[i+1].(*widget.Label).SetText(c)
	}
}

// seriesThumbnails asks the archive for a rendered image of each listed
// series, one after the other, and shows each as it comes. A series the
// archive cannot render keeps an empty cell: opening it still works.
func (p *pacsController) seriesThumbnails(server string, series []pacs.Series) {
	f := &p.find
	c, err := p.client(server)
	if err != nil {
		return
	}
	var todo []pacs.Series // read here, on the UI thread, which alone writes thumbImg
	for _, s := range series {
		if _, ok := f.thumbImg[s.SeriesInstanceUID]; !ok {
			todo = append(todo, s)
		}
	}
	task.Start(&f.thumbs, p.u.do, func(t *task.Task) (struct{}, error) {
		defer c.Close()
		for _, s := range todo {
			if t.Context().Err() != nil {
				break
			}
			img, err := c.Thumbnail(t.Context(), s.StudyInstanceUID, s.SeriesInstanceUID, 2*pickThumb)
			if err != nil {
				continue
			}
			t.Post(func() {
				f.thumbImg[s.SeriesInstanceUID] = img
				f.seriesList.Refresh()
			})
		}
		return struct{}{}, t.Context().Err()
	}, nil)
}

func setRow(o fyne.CanvasObject, cells []string) {
	for i, l := range o.(*fyne.Container).Objects {
		l.(*widget.Label).SetText(cells[i])
	}
}

func fmtDate(d string) string {
	if len(d) == 8 {
		return d[:4] + "-" + d[4:6] + "-" + d[6:]
	}
	return orDash(d)
}

func studyCells(s pacs.Study) []string {
	return []string{orDash(s.PatientName), orDash(s.PatientID), fmtDate(s.StudyDate), orDash(s.StudyDescription),
		orDash(s.Accession), orDash(strings.Join(s.Modalities, ", ")), strconv.Itoa(s.NumSeries), strconv.Itoa(s.NumInstances)}
}

func seriesCells(s pacs.Series) []string {
	th, mx := "–", "–"
	if s.SliceThickness > 0 {
		th = fmt.Sprintf("%.4g mm", s.SliceThickness)
	}
	if s.Rows > 0 {
		mx = fmt.Sprintf("%d×%d", s.Cols, s.Rows)
	}
	return []string{strconv.Itoa(s.Number), orDash(s.Description), orDash(s.Modality), strconv.Itoa(s.NumInstances), th, mx}
}

// dateField reads a date field (YYYY-MM-DD or YYYYMMDD).
func dateField(what, s string) (string, error) {
	d, err := pacs.ParseDate(s)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return d, nil
}

// search runs the query (more: the next page of the same query).
func (p *pacsController) search(more bool) {
	f := &p.find
	if !more {
		q := pacs.StudyQuery{PatientName: f.name.Text, PatientID: strings.TrimSpace(f.pid.Text),
			Modality: strings.ToUpper(strings.TrimSpace(f.modality.Text)), Accession: strings.TrimSpace(f.accession.Text), Limit: findPage}
		var err error
		if q.DateFrom, err = dateField("From", f.from.Text); err == nil {
			q.DateTo, err = dateField("To", f.to.Text)
		}
		if err != nil {
			f.status.SetText(err.Error())
			return
		}
		f.query = q
		f.studies, f.series, f.studySel, f.seriesSel = nil, nil, -1, -1
		f.studyList.UnselectAll()
		f.studyList.Refresh()
		f.seriesList.Refresh()
		f.openBtn.Disable()
	} else {
		f.query.Offset += findPage
	}
	server := f.server.Selected
	c, err := p.client(server)
	if err != nil {
		f.status.SetText(err.Error())
		return
	}
	q := f.query
	f.status.SetText("Searching " + server + "…")
	f.searchBtn.Disable()
	f.moreBtn.Disable()
	task.Start(&f.lookup, p.u.do, func(t *task.Task) ([]pacs.Study, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		defer c.Close()
		return c.FindStudies(ctx, q)
	}, func(st []pacs.Study, err error) {
		f.searchBtn.Enable()
		if err != nil {
			f.status.SetText(err.Error())
		} else {
			f.studies = append(f.studies, st...)
			p.sortStudies()
			msg := fmt.Sprintf("%d studies found on %s.", len(f.studies), server)
			if len(st) == q.Limit {
				msg = fmt.Sprintf("%d studies shown; press More results for the next %d.", len(f.studies), findPage)
				f.moreBtn.Enable()
			}
			if len(f.studies) > 0 {
				msg += " Choose a study, then a series."
			}
			f.status.SetText(msg)
		}
		if p.onSearch != nil {
			p.onSearch(err)
		}
	})
}

func (p *pacsController) sortBy(col int) {
	f := &p.find
	if f.sortCol == col {
		f.sortDesc = !f.sortDesc
	} else {
		f.sortCol, f.sortDesc = col, false
	}
	for i, o := range f.studyHeader.Objects {
		t := studyCols[i]
		if i == col {
			t += map[bool]string{false: " ▲", true: " ▼"}[f.sortDesc]
		}
		o.(*widget.Button).SetText(t)
	}
	p.sortStudies()
}

func (p *pacsController) sortStudies() {
	f := &p.find
	key := func(s pacs.Study) string { return strings.ToLower(studyCells(s)[f.sortCol]) }
	num := f.sortCol >= 6
	sort.SliceStable(f.studies, func(i, j int) bool {
		a, b := f.studies[i], f.studies[j]
		var less bool
		if num {
			ca, _ := strconv.Atoi(studyCells(a)[f.sortCol])
			cb, _ := strconv.Atoi(studyCells(b)[f.sortCol])
			less = ca < cb
		} else {
			less = key(a) < key(b)
		}
		if f.sortDesc {
			return !less && key(a) != key(b)
		}
		return less
	})
	f.studyList.UnselectAll()
	f.studySel, f.series, f.seriesSel = -1, nil, -1
	f.openBtn.Disable()
	f.studyList.Refresh()
	f.seriesList.Refresh()
}

// nonImageModality are series that hold no CT volume to open.
var nonImageModality = map[string]bool{"SEG": true, "SR": true, "PR": true, "KO": true, "RTSTRUCT": true,
	"RTPLAN": true, "RTDOSE": true, "REG": true, "DOC": true, "OT": true}

// studyChosen lists the study's series, leaving localizers out as the
// folder picker does.
func (p *pacsController) studyChosen(id int) {
	f := &p.find
	f.studySel, f.series, f.seriesSel = id, nil, -1
	f.seriesList.UnselectAll()
	f.seriesList.Refresh()
	f.openBtn.Disable()
	st := f.studies[id]
	server := f.server.Selected
	c, err := p.client(server)
	if err != nil {
		f.status.SetText(err.Error())
		return
	}
	f.status.SetText("Listing the series of " + orDash(st.PatientName) + "…")
	task.Start(&f.lookup, p.u.do, func(t *task.Task) ([]pacs.Series, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		defer c.Close()
		return c.FindSeries(ctx, st.StudyInstanceUID, "")
	}, func(series []pacs.Series, err error) {
		if err != nil {
			f.status.SetText(err.Error())
		} else {
			loc, other := 0, 0
			for _, s := range series {
				switch {
				case s.IsLocalizer:
					loc++
				case nonImageModality[s.Modality]:
					other++ // a SEG sent back earlier, reports, …
				default:
					f.series = append(f.series, s)
				}
			}
			f.seriesList.Refresh()
			p.seriesThumbnails(server, f.series)
			msg := fmt.Sprintf("%d series.", len(f.series))
			if loc > 0 {
				msg += fmt.Sprintf(" (%d localizer series are not offered as volumes.)", loc)
			}
			if other > 0 {
				msg += fmt.Sprintf(" (%d series of segmentations, reports or other non-image objects are not listed.)", other)
			}
			if len(f.series) > 0 {
				f.seriesList.Select(0)
				msg += " Open retrieves the chosen series (it stays in the local cache)."
			}
			f.status.SetText(msg)
		}
		if p.onSeries != nil {
			p.onSeries(err)
		}
	})
}

func (p *pacsController) openSelected() {
	f := &p.find
	if f.seriesSel < 0 || f.seriesSel >= len(f.series) {
		return
	}
	server := f.server.Selected
	c, err := p.client(server)
	if err != nil {
		f.status.SetText(err.Error())
		return
	}
	se := f.series[f.seriesSel]
	f.dlg.Hide()
	p.u.OpenFromPACS(c, p.cache, se)
}

// OpenFromPACS retrieves the series (or takes it from the cache) with a
// progress bar counting instances and MB and a Cancel button, then opens
// the cached folder exactly as a folder is opened.
func (u *UI) OpenFromPACS(c *pacs.Client, cache *pacs.Cache, se pacs.Series) {
	p := u.pacsCtl()
	label := c.Server().Label()
	u.startLoad(fmt.Sprintf("Retrieving %s from %s", orDash(se.Description), label))
	gen := u.load.gen
	u.loadTask(func(ctx context.Context) {
		defer c.Close()
		t0 := time.Now()
		var lastText time.Time
		dir, err := c.Retrieve(ctx, cache, se.StudyInstanceUID, se.SeriesInstanceUID, func(pr pacs.Progress) {
			u.progress(pr.Done, pr.Total)
			if time.Since(lastText) >= 200*time.Millisecond || pr.Done == pr.Total {
				lastText = time.Now()
				txt := fmt.Sprintf("Retrieving from %s: %d / %d instances, %.1f MB", label, pr.Done, pr.Total, float64(pr.Bytes)/1e6)
				if pr.Cached {
					txt = fmt.Sprintf("%s is in the local cache (%d instances)", orDash(se.Description), pr.Total)
				}
				u.setPhase(gen, txt, false)
			}
		})
		if p.onRetrieved != nil {
			p.onRetrieved(err)
		}
		if err != nil {
			u.finish(gen, "", nil, err)
			return
		}
		trace(fmt.Sprintf("retrieved in %.0f ms", msSince(t0)))
		u.do(func() {
			if gen != u.load.gen {
				return
			}
			p.originServer, p.originStudy = label, se.StudyInstanceUID
			u.setStatus(fmt.Sprintf("Retrieved %s from %s into %s", orDash(se.Description), label, dir))
			u.Open(dir) // the folder path from here: scan, picker rules, loader, student
		})
	})
}

// ---------------------------------------------------------------- send

type sendDialog struct {
	dlg     dialog.Dialog
	server  *widget.Select
	source  *widget.Select
	sources []maskSource
	report  *widget.Check
	sendBtn *widget.Button
	result  *widget.Label
	cancel  context.CancelFunc
}

// ShowPACSSend opens File → Send to PACS…: a segmentation of the open
// study (any model's result at its threshold, or the reference) is written
// as a DICOM SEG and stored into the study on the chosen server.
func (u *UI) ShowPACSSend() {
	p := u.pacsCtl()
	if !p.ready() {
		return
	}
	if u.vol == nil {
		dialog.NewInformation("Send to PACS", "Open a study first.", u.win).Show()
		return
	}
	if ok, why := segAvailable(u.vol); !ok {
		dialog.NewInformation("Send to PACS", why, u.win).Show()
		return
	}
	if len(p.servers.Servers) == 0 {
		dialog.NewInformation("Send to PACS", "Add a DICOMweb server first (File → PACS servers…).", u.win).Show()
		return
	}
	srcs := u.exportSources()
	if len(srcs) == 0 {
		dialog.NewInformation("Send to PACS", "There is no segmentation to send yet: run a model or load a reference.", u.win).Show()
		return
	}
	d := &p.send
	*d = sendDialog{sources: srcs}
	d.server = widget.NewSelect(p.serverNames(), nil)
	d.server.SetSelectedIndex(0)
	if p.originServer != "" && p.originStudy == u.vol.Info.StudyInstanceUID {
		d.server.SetSelected(p.originServer)
	}
	var labels []string
	for _, s := range srcs {
		labels = append(labels, s.Label)
	}
	d.source = widget.NewSelect(labels, nil)
	d.source.SetSelectedIndex(0)
	for i, s := range srcs {
		if strings.HasSuffix(s.Label, ", shown)") {
			d.source.SetSelectedIndex(i)
		}
	}
	d.result = widget.NewLabel(fmt.Sprintf("The DICOM SEG joins study %s (%s); the archive's answer will show here.",
		u.vol.Info.StudyInstanceUID, orDash(u.vol.Info.PatientName)))
	d.result.Wrapping = fyne.TextWrapWord
	d.report = widget.NewCheck("Also send the three views as a picture (DICOM Secondary Capture), for viewers without SEG support", nil)
	d.sendBtn = widget.NewButton("Send", p.sendNow)
	d.sendBtn.Importance = widget.HighImportance
	form := widget.NewForm(widget.NewFormItem("Server", d.server), widget.NewFormItem("Segmentation", d.source), widget.NewFormItem("", d.report))
	d.dlg = dialog.NewCustom("Send to PACS", "Close", container.NewVBox(form, d.result, container.NewHBox(layout.NewSpacer(), d.sendBtn)), u.win)
	d.dlg.SetOnClosed(func() {
		if d.cancel != nil {
			d.cancel()
		}
	})
	d.dlg.Resize(fyne.NewSize(720, 300))
	d.dlg.Show()
}

func (p *pacsController) sendNow() {
	u, d := p.u, &p.send
	src := d.sources[max(d.source.SelectedIndex(), 0)]
	server := d.server.Selected
	c, err := p.client(server)
	if err != nil {
		d.result.SetText("✗ " + err.Error())
		return
	}
	vol := u.vol
	var shot image.Image
	if d.report.Checked {
		img, err := u.CaptureViews() // the canvas is read here, on the UI goroutine
		if err != nil {
			d.result.SetText("✗ could not capture the views: " + err.Error())
			return
		}
		shot = img
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.sendBtn.Disable()
	d.result.SetText("Writing the DICOM SEG and sending it to " + server + "…")
	// The send has its own context: the dialog's Cancel stops it, and
	// it still reports.
	task.Go(u.do, func(*task.Task) (*pacs.StoreResult, error) {
		defer cancel()
		defer c.Close()
		return func() (*pacs.StoreResult, error) {
			m, err := src.build(vol)
			if err != nil {
				return nil, err
			}
			tmp, err := os.MkdirTemp("", "liverseg-send-")
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(tmp)
			path := filepath.Join(tmp, "liver_seg.dcm")
			if err := dicomseg.WriteSEG(path, vol, m, src.segOptions(false)); err != nil {
				return nil, err
			}
			files := []string{path}
			if shot != nil {
				sc := filepath.Join(tmp, "liver_views.dcm")
				if err := dicomio.WriteSecondaryCapture(sc, shot, vol.Info, dicomio.SCOptions{
					SeriesDescription: "LiverSeg views (" + src.Label + ")", SoftwareVersions: "LiverSeg " + SoftwareVersion(),
					ImageComments: "Axial, coronal and sagittal views with the liver segmentation; not for diagnosis"}); err != nil {
					return nil, err
				}
				files = append(files, sc)
			}
			return c.Store(ctx, vol.Info.StudyInstanceUID, files...)
		}()
	}, func(res *pacs.StoreResult, err error) {
		d.sendBtn.Enable()
		switch {
		case err != nil:
			d.result.SetText("✗ " + err.Error())
			u.setStatus("Send to PACS failed: " + err.Error())
		case len(res.Failed) > 0:
			d.result.SetText(fmt.Sprintf("✗ %s refused it: %s", server, res.Summary()))
			u.setStatus("Send to PACS: " + res.Summary())
		default:
			what := "the segmentation"
			if len(res.Stored) > 1 {
				what = "the segmentation and the views"
			}
			d.result.SetText(fmt.Sprintf("✓ %s stored %s (%s) in study %s: %s.", server, what, src.Label, vol.Info.StudyInstanceUID, res.Summary()))
			u.setStatus(fmt.Sprintf("Sent %s to %s: %s", src.Label, server, res.Summary()))
		}
		if p.onSend != nil {
			p.onSend(res, err)
		}
	})
}
