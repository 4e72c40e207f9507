package commands

// Persistence commands: BGSAVE and SAVE take a consistent checkpoint of the
// store (a directory that is itself a data dir) in checkpoint-dir; LASTSAVE
// tells when the last one was taken.

func init() {
	register(
		&Command{Name: "bgsave", Arity: -1, Flags: Admin, Run: bgsave},
		&Command{Name: "save", Arity: 1, Flags: Admin | NoMulti, Run: func(c *Ctx) any { return c.Server.Save() }},
		&Command{Name: "lastsave", Arity: 1, Flags: Fast | Loading, Run: func(c *Ctx) any { return c.Server.LastSave() }},
	)
}

func bgsave(c *Ctx) any {
	schedule := false
	switch {
	case len(c.Args) == 2 && isOption(c.Args[1], "SCHEDULE"):
		schedule = true
	case len(c.Args) > 1:
		return ErrSyntax
	}
	return c.Server.BGSave(schedule)
}
