package pgqueue

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// queryPlanned is pool.Query for a statement that runs with planSettings: both go in one
// round trip, run by Postgres in one implicit transaction. The rows end the batch when
// they are closed or read to the end.
func (s *Store) queryPlanned(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return s.querySettings(ctx, planSettings, sql, args...)
}

// queryRowPlanned is pool.QueryRow for a statement that runs with planSettings
// (queryPlanned): its Scan reads the first row, pgx.ErrNoRows when there is none.
func (s *Store) queryRowPlanned(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := s.queryPlanned(ctx, sql, args...)
	return plannedRow{rows: rows, err: err}
}

// plannedRow is the row of queryRowPlanned.
type plannedRow struct {
	rows pgx.Rows
	err  error
}

func (r plannedRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// querySettings is queryPlanned with the settings statement settings (planSettings, or
// leaseSettings for Lease) in place of planSettings.
func (s *Store) querySettings(ctx context.Context, settings, sql string, args ...any) (pgx.Rows, error) {
	b := &pgx.Batch{}
	b.Queue(settings)
	b.Queue(sql, args...)
	br := s.pool.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &plannedRows{Rows: rows, br: br}, nil
}

// plannedRows are the rows of queryPlanned: closing them closes the batch, whose error
// (the implicit transaction's end) Err reports.
type plannedRows struct {
	pgx.Rows
	br     pgx.BatchResults
	err    error
	closed bool
}

func (r *plannedRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *plannedRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.br.Close()
}

func (r *plannedRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}
