-- Students older than 20 are a subset of each major's students: no major appears only in the
-- over-20 mart and no over-20 count exceeds the major's count. Returns the offending majors.
select o.major, o.student_count as over_20_count, s.student_count
from {{ ref('major_avg_age_over_20') }} as o
left join {{ ref('major_age_stats') }} as s on s.major = o.major
where s.major is null
   or o.student_count > s.student_count
   or o.avg_age > s.max_age
