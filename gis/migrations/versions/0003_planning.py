"""planning: version chain columns, immutable published grids, append-only grid_edit log

* ``grid_version`` gets ``parent_version_id`` (the version a draft was copied from),
  ``published_at`` / ``published_by``, ``retired_from`` (first date the version is no longer
  in force = its successor's effective date), ``retired_at``, ``superseded_by``; checks that
  a published / retired version has an effective date and that exactly the retired ones
  have ``retired_from``; a partial unique index allows one open (``published``) version per
  county. Existing data is brought into that shape first: of several published versions of
  a county, all but the latest (by effective date, then id) are retired from the next one's
  effective date.
* Grids of a version that is not a draft can no longer be inserted, updated or deleted
  (trigger ``grid_frozen_unless_draft``); deleting a whole version still cascades.
* ``grid_edit``: one row per planning operation (who, when, op, codes and full grids
  before / after); a trigger refuses UPDATE, DELETE and TRUNCATE.

Written by hand (checked against the models with alembic's compare_metadata).

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import geoalchemy2
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

RETIRE_OLDER_PUBLISHED = """
with chain as (
  select id, lead(effective_date) over w as next_date, lead(id) over w as next_id
  from grid_version where status = 'published'
  window w as (partition by adcode order by effective_date, id)
)
update grid_version v
   set status = 'retired', retired_from = greatest(c.next_date, v.effective_date),
       retired_at = now(), superseded_by = c.next_id
  from chain c
 where v.id = c.id and c.next_id is not null
"""

GRID_FROZEN_FUNCTION = """
create or replace function grid_frozen_unless_draft() returns trigger
language plpgsql as $$
declare
  vid integer;
  gcode text;
  st text;
begin
  if tg_op = 'DELETE' then
    vid := old.version_id;
    gcode := old.code;
  else
    vid := new.version_id;
    gcode := new.code;
  end if;
  select status into st from grid_version where id = vid;
  if st is not null and st <> 'draft' then
    raise exception 'grid version % is % and cannot be changed (% of grid %); edit a draft copy instead: wangge grids draft new --from %',
      vid, st, lower(tg_op), gcode, vid
      using errcode = 'insufficient_privilege';
  end if;
  if tg_op = 'UPDATE' and old.version_id <> new.version_id then
    select status into st from grid_version where id = old.version_id;
    if st is not null and st <> 'draft' then
      raise exception 'grid version % is % and cannot be changed (move of grid %)',
        old.version_id, st, old.code using errcode = 'insufficient_privilege';
    end if;
  end if;
  if tg_op = 'DELETE' then
    return old;
  end if;
  return new;
end
$$
"""

GRID_EDIT_APPEND_ONLY_FUNCTION = """
create or replace function grid_edit_append_only() returns trigger
language plpgsql as $$
begin
  raise exception 'grid_edit is append-only: % refused (the planning log is never changed or removed)', tg_op
    using errcode = 'insufficient_privilege';
end
$$
"""


def upgrade() -> None:
    op.add_column('grid_version', sa.Column('parent_version_id', sa.Integer(), nullable=True))
    op.add_column('grid_version', sa.Column('published_at', sa.DateTime(timezone=True),
                                            nullable=True))
    op.add_column('grid_version', sa.Column('published_by', sa.Text(), nullable=True))
    op.add_column('grid_version', sa.Column('retired_from', sa.Date(), nullable=True))
    op.add_column('grid_version', sa.Column('retired_at', sa.DateTime(timezone=True),
                                            nullable=True))
    op.add_column('grid_version', sa.Column('superseded_by', sa.Integer(), nullable=True))
    op.create_foreign_key('grid_version_parent_version_id_fkey', 'grid_version',
                          'grid_version', ['parent_version_id'], ['id'])
    op.create_foreign_key('grid_version_superseded_by_fkey', 'grid_version', 'grid_version',
                          ['superseded_by'], ['id'])
    # existing data: published without a date gets the creation date; one open per county
    op.execute("update grid_version set effective_date = created_at::date "
               "where status <> 'draft' and effective_date is null")
    op.execute("update grid_version set retired_from = effective_date, retired_at = now() "
               "where status = 'retired' and retired_from is null")
    op.execute(RETIRE_OLDER_PUBLISHED)
    op.create_check_constraint('ck_grid_version_effective', 'grid_version',
                               "status = 'draft' or effective_date is not null")
    op.create_check_constraint('ck_grid_version_retired', 'grid_version',
                               "(status = 'retired') = (retired_from is not null)")
    op.create_check_constraint('ck_grid_version_retired_after', 'grid_version',
                               "retired_from is null or retired_from >= effective_date")
    op.create_index('uq_grid_version_one_open', 'grid_version', ['adcode'], unique=True,
                    postgresql_where=sa.text("status = 'published'"))

    op.execute(GRID_FROZEN_FUNCTION)
    op.execute("create trigger grid_frozen_unless_draft before insert or update or delete "
               "on grid for each row execute function grid_frozen_unless_draft()")

    op.create_table(
        'grid_edit',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('adcode', sa.String(length=6), nullable=False),
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('clock_timestamp()'),
                  nullable=False),
        sa.Column('actor', sa.Text(), nullable=False),
        sa.Column('op', sa.String(length=12), nullable=False),
        sa.Column('codes_before', postgresql.ARRAY(sa.String(length=20)),
                  server_default=sa.text("'{}'"), nullable=False),
        sa.Column('codes_after', postgresql.ARRAY(sa.String(length=20)),
                  server_default=sa.text("'{}'"), nullable=False),
        sa.Column('grids_before', postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column('grids_after', postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column('geom_before', geoalchemy2.types.Geometry(
            geometry_type='MULTIPOLYGON', srid=4490, dimension=2, from_text='ST_GeomFromEWKT',
            name='geometry', spatial_index=False), nullable=True),
        sa.Column('geom_after', geoalchemy2.types.Geometry(
            geometry_type='MULTIPOLYGON', srid=4490, dimension=2, from_text='ST_GeomFromEWKT',
            name='geometry', spatial_index=False), nullable=True),
        sa.CheckConstraint("op in ('new_draft','split','merge','move','redraw_edge','rename',"
                           "'recode','set_attrs','import','publish')", name='ck_grid_edit_op'),
        sa.ForeignKeyConstraint(['version_id'], ['grid_version.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('idx_grid_edit_geom_before', 'grid_edit', ['geom_before'], unique=False,
                    postgresql_using='gist')
    op.create_index('idx_grid_edit_geom_after', 'grid_edit', ['geom_after'], unique=False,
                    postgresql_using='gist')
    op.create_index(op.f('ix_grid_edit_adcode'), 'grid_edit', ['adcode'], unique=False)
    op.create_index(op.f('ix_grid_edit_version_id'), 'grid_edit', ['version_id'], unique=False)
    op.execute(GRID_EDIT_APPEND_ONLY_FUNCTION)
    op.execute("create trigger grid_edit_no_update_delete before update or delete on grid_edit "
               "for each row execute function grid_edit_append_only()")
    op.execute("create trigger grid_edit_no_truncate before truncate on grid_edit "
               "for each statement execute function grid_edit_append_only()")


def downgrade() -> None:
    op.execute("drop trigger if exists grid_edit_no_truncate on grid_edit")
    op.execute("drop trigger if exists grid_edit_no_update_delete on grid_edit")
    op.execute("drop function if exists grid_edit_append_only()")
    op.drop_index(op.f('ix_grid_edit_version_id'), table_name='grid_edit')
    op.drop_index(op.f('ix_grid_edit_adcode'), table_name='grid_edit')
    op.drop_index('idx_grid_edit_geom_after', table_name='grid_edit', postgresql_using='gist')
    op.drop_index('idx_grid_edit_geom_before', table_name='grid_edit', postgresql_using='gist')
    op.drop_table('grid_edit')
    op.execute("drop trigger if exists grid_frozen_unless_draft on grid")
    op.execute("drop function if exists grid_frozen_unless_draft()")
    op.drop_index('uq_grid_version_one_open', table_name='grid_version',
                  postgresql_where=sa.text("status = 'published'"))
    op.drop_constraint('ck_grid_version_retired_after', 'grid_version', type_='check')
    op.drop_constraint('ck_grid_version_retired', 'grid_version', type_='check')
    op.drop_constraint('ck_grid_version_effective', 'grid_version', type_='check')
    op.drop_constraint('grid_version_superseded_by_fkey', 'grid_version', type_='foreignkey')
    op.drop_constraint('grid_version_parent_version_id_fkey', 'grid_version',
                       type_='foreignkey')
    op.drop_column('grid_version', 'superseded_by')
    op.drop_column('grid_version', 'retired_at')
    op.drop_column('grid_version', 'retired_from')
    op.drop_column('grid_version', 'published_by')
    op.drop_column('grid_version', 'published_at')
    op.drop_column('grid_version', 'parent_version_id')
