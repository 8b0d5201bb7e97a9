package console

import (
	"embed"
	"html/template"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed templates/console.css
var stylesheet string

// pages are the console's templates, parsed once.
var pages = template.Must(template.New("console").ParseFS(templateFS, "templates/*.html"))
